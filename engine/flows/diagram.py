"""Pictures of a flow graph: Mermaid text, or a standalone SVG laid out in layers."""

from __future__ import annotations

from html import escape

from ordo.dsl.base import label_text
from ordo.dsl.flow_nodes import successors

from .compile import CNode, CompiledFlow

_MERMAID_SHAPES = {"approval": ('["', '"]'), "condition": ('{"', '"}'), "inclusive": ('{"', '"}'),
                   "parallel": ('[["', '"]]'), "join": ('[["', '"]]'), "end": ('(["', '"])'),
                   "wait": ('[/"', '"/]'), "action": ('["', '"]'), "cc": ('["', '"]'),
                   "decision": ('{{"', '"}}')}
_COLORS = {"approval": "#dbeafe", "condition": "#fef3c7", "inclusive": "#fef3c7", "parallel": "#e9d5ff",
           "join": "#e9d5ff", "end": "#dcfce7", "wait": "#fee2e2", "action": "#f3f4f6", "cc": "#f3f4f6",
           "decision": "#fef3c7"}
# Edge and node-type words in the diagram, per language (node labels come from the flow definition).
_WORDS = {"zh": {"default": "默认", "rejected": "驳回", "timeout": "超时", "approval": "审批", "condition": "条件",
                 "inclusive": "包容分支", "parallel": "并行", "join": "汇合", "end": "结束", "wait": "等待",
                 "action": "动作", "cc": "抄送", "decision": "决策"}}


def _word(word: str, lang: str) -> str:
    return _WORDS.get(lang, {}).get(word, word)


def node_label(node: CNode, lang: str = "en") -> str:
    """A node's label in ``lang`` (its ``label: {en, zh}``), else English, else its humanized name."""
    return label_text(node.defn.label, lang, node.label)


def edges(flow: CompiledFlow, lang: str = "en") -> list[tuple[str, str, str]]:
    """(from, to, label) of every edge; the words default / rejected / timeout in ``lang``."""
    out = []
    for name, node in flow.nodes.items():
        d = node.defn
        for path, target in successors(d):
            label = ""
            if path[0] == "branches":
                label = d.branches[path[1]].when
            elif path[0] in ("default", "on_reject"):
                label = _word("default" if path[0] == "default" else "rejected", lang)
            elif path[0] == "timeout":
                label = _word("timeout", lang)
            out.append((name, target, label))
    return out


def mermaid(flow: CompiledFlow, lang: str = "en") -> str:
    """Mermaid flowchart text, step labels and words in ``lang``."""
    lines = ["flowchart TD"]
    for name, node in flow.nodes.items():
        left, right = _MERMAID_SHAPES[node.type]
        text = f"{node_label(node, lang)}<br/><i>{_word(node.type, lang)}</i>".replace('"', "'")
        lines.append(f"    {name}{left}{text}{right}")
    for a, b, label in edges(flow, lang):
        lines.append(f"    {a} -->|{label.replace('|', '/')}| {b}" if label else f"    {a} --> {b}")
    return "\n".join(lines) + "\n"


def _layers(flow: CompiledFlow) -> dict[str, int]:
    """Layer of each node: longest path from the start, ignoring edges that go back (loops)."""
    out_edges: dict[str, list[str]] = {n: [] for n in flow.nodes}
    for a, b, _ in edges(flow):
        out_edges[a].append(b)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}

    def dfs(n: str) -> None:
        state[n] = 1
        for m in out_edges[n]:
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                dfs(m)
        state[n] = 2

    dfs(flow.first)
    layer = {flow.first: 0}
    for _ in range(len(flow.nodes)):
        for a in list(layer):
            for b in out_edges[a]:
                if (a, b) not in back and layer.get(b, -1) < layer[a] + 1:
                    layer[b] = layer[a] + 1
    for n in flow.nodes:
        layer.setdefault(n, 0)
    return layer


def svg(flow: CompiledFlow, lang: str = "en") -> str:
    """A standalone SVG of the flow, step labels (``label: {en, zh}``) and words in ``lang``."""
    w, h, gx, gy = 170, 48, 40, 56
    layer = _layers(flow)
    rows: dict[int, list[str]] = {}
    for n in flow.nodes:
        rows.setdefault(layer[n], []).append(n)
    width = max(len(r) for r in rows.values()) * (w + gx) + gx
    pos = {}
    for y, names in rows.items():
        offset = (width - len(names) * (w + gx) + gx) / 2
        for i, n in enumerate(names):
            pos[n] = (offset + i * (w + gx), gy / 2 + y * (h + gy))
    height = (max(rows) + 1) * (h + gy)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f"<title>{escape(flow.name)}</title>"]
    for a, b, label in edges(flow, lang):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        sx, sy = x1 + w / 2, y1 + h
        tx, ty = x2 + w / 2, y2
        if y2 <= y1:  # a loop back: go round the side
            sx, sy, tx, ty = x1, y1 + h / 2, x2, y2 + h / 2
            path = f"M{sx:.0f},{sy:.0f} C{sx - 60:.0f},{sy:.0f} {tx - 60:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
        else:
            path = f"M{sx:.0f},{sy:.0f} L{tx:.0f},{ty:.0f}"
        out.append(f'<path d="{path}" stroke="#555" fill="none" marker-end="url(#arrow)"/>')
        if label:
            out.append(f'<text x="{(sx + tx) / 2 + 4:.0f}" y="{(sy + ty) / 2:.0f}" fill="#333" font-size="10">'
                       f"{escape(label[:40])}</text>")
    for n, node in flow.nodes.items():
        x, y = pos[n]
        rx = 24 if node.type == "end" else 6
        out.append(f'<g class="node {node.type}" id="node-{n}"><rect x="{x:.0f}" y="{y:.0f}" width="{w}" '
                   f'height="{h}" rx="{rx}" fill="{_COLORS[node.type]}" stroke="#333"/>'
                   f'<text x="{x + w / 2:.0f}" y="{y + 20:.0f}" text-anchor="middle" font-weight="bold">'
                   f"{escape(node_label(node, lang)[:28])}</text>"
                   f'<text x="{x + w / 2:.0f}" y="{y + 36:.0f}" text-anchor="middle" fill="#555">{_word(node.type, lang)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
