"""Flow instances per second: a 3-step approval (start, condition on amount, one approval, end),
started and completed through the Ordo engine API on SQLite and PostgreSQL, next to SpiffWorkflow
running the equivalent BPMN process in memory.

    python bench/flows.py [--n 300] [--batch 10] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each Ordo instance is durable and goes through two transactions, as in real use: the submitter
creates the record (which starts the flow: condition, task, notification, timeline, state on the
record) and the approver opens their inbox and approves (task, timeline, record state, completion).
"batched" runs the same with ``--batch`` instances per transaction: one transaction of the submitter
creating that many records, then one per approver approving what their inbox holds.
SpiffWorkflow keeps everything in memory (no persistence). The statements and commits per
instance are counted on a separate run (``engine/stats.py``), so counting costs no time here;
tests/test_statement_budgets_flows.py holds them to their budget.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

FILES = {
    "app.yaml": "name: bench\nversion: 1\n",
    "entities/claim.yaml": """
        name: claim
        naming: "CL-{######}"
        fields:
          amount: {type: money}
          stage: {type: string}
    """,
    "roles.yaml": """
        roles:
          manager: {users: [mia]}
          director: {users: [dan]}
          admin: {users: [admin]}
          everyone:
            permissions: [{entity: claim}]
    """,
    "flows/claim.yaml": """
        name: claim_approval
        entity: claim
        trigger: {on: create}
        state_field: stage
        nodes:
          route:
            type: condition
            branches:
              - {when: "amount > 1000", to: director}
            default: manager
          manager: {type: approval, approvers: [{role: manager}], next: done}
          director: {type: approval, approvers: [{role: director}], next: done}
          done: {type: end, outcome: approved}
    """,
}

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="bench">
  <bpmn:process id="claim_approval" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="route" default="f_small"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f_big</bpmn:outgoing><bpmn:outgoing>f_small</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="director"><bpmn:incoming>f_big</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="manager"><bpmn:incoming>f_small</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="done"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route"/>
    <bpmn:sequenceFlow id="f_big" sourceRef="route" targetRef="director">
      <bpmn:conditionExpression>amount &gt; 1000</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_small" sourceRef="route" targetRef="manager"/>
    <bpmn:sequenceFlow id="f2" sourceRef="director" targetRef="done"/>
    <bpmn:sequenceFlow id="f3" sourceRef="manager" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>
"""


def write_app(root: Path) -> Path:
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def _amount(i: int) -> int:
    return 5000 if i % 2 else 100


def lifecycle(app, i: int) -> None:  # noqa: ANN001 - an ordo App
    """One instance: the submitter's transaction, then the approver's (inbox, approve)."""
    flows = app.features["flows"]
    app.create("claim", {"amount": _amount(i)}, "alice")
    with app.transaction("dan" if _amount(i) > 1000 else "mia") as tx:
        flows.approve(tx, flows.inbox(tx)[0].id)


def batch(app, start: int, size: int) -> None:  # noqa: ANN001 - an ordo App
    """``size`` instances: one transaction creating the records, one per approver approving their inbox."""
    flows = app.features["flows"]
    with app.transaction("alice") as tx:
        for i in range(start, start + size):
            tx.create("claim", {"amount": _amount(i)})
    for approver in ("mia", "dan"):
        with app.transaction(approver) as tx:
            for task in flows.inbox(tx):
                flows.approve(tx, task.id)


def bench_ordo(app_dir: Path, url: str, n: int, size: int) -> dict[str, float]:
    """Instances per second one at a time and batched, and statements and commits per instance."""
    from ordo.engine import open_app
    from ordo.engine.stats import count_statements

    out: dict[str, float] = {}
    with open_app(app_dir, url) as app:
        flows = app.features["flows"]
        lifecycle(app, 0)  # first use registers the flow version
        with count_statements(app.engine) as counts:
            for i in range(10):
                lifecycle(app, i)
        out["statements"], out["commits"] = counts.statements / 10, counts.commits / 10
        t0 = time.perf_counter()
        for i in range(n):
            lifecycle(app, i)
        out["single"] = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for start in range(0, n, size):
            batch(app, start, min(size, n - start))
        out["batched"] = n / (time.perf_counter() - t0)
        with app.reader("admin") as tx:
            last = tx.query("claim", order_by="-id", limit=1)[0]
            assert flows.status(tx, "claim", last["id"]).outcome == "approved"
            assert not flows.inbox(tx, "mia") and not flows.inbox(tx, "dan")
    return out


def bench_spiff(n: int) -> float:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    with tempfile.NamedTemporaryFile("w", suffix=".bpmn", delete=False) as f:
        f.write(BPMN)
    parser = BpmnParser()
    parser.add_bpmn_file(f.name)
    spec = parser.get_spec("claim_approval")
    os.unlink(f.name)
    t0 = time.perf_counter()
    for i in range(n):
        wf = BpmnWorkflow(spec)
        wf.get_tasks(state=TaskState.READY)[0].data["amount"] = 5000 if i % 2 else 100
        wf.do_engine_steps()
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.run()
        wf.do_engine_steps()
        assert wf.is_completed()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="instances per engine")
    ap.add_argument("--batch", type=int, default=10, help="instances per transaction in the batched run")
    ap.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"),
                    help="PostgreSQL URL (skipped if none)")
    args = ap.parse_args()
    nan = float("nan")
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        rows.append(("Ordo on SQLite (file, WAL)", bench_ordo(app_dir, f"sqlite:///{tmp}/bench.db", args.n,
                                                              args.batch)))
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            try:
                sep = "&" if "?" in args.pg else "?"
                url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
                rows.append(("Ordo on PostgreSQL", bench_ordo(app_dir, url, args.n, args.batch)))
            finally:
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()
        else:
            rows.append(("Ordo on PostgreSQL (no --pg URL: skipped)", {}))
    try:
        spiff = bench_spiff(args.n)
        spiff_name = "SpiffWorkflow (BPMN, in memory)"
    except ImportError:
        spiff, spiff_name = nan, "SpiffWorkflow (not installed: pip install 'ordo[bench]')"
    print(f"3-step approval (start, condition on amount, one approval, end), {args.n} instances each")
    print(f"  {'engine':<42} {'1 per commit':>13} {'x Spiff':>8} {f'{args.batch} per commit':>14} {'x Spiff':>8}"
          f" {'stmts/inst':>11} {'commits/inst':>13}")
    for name, r in rows:
        single, batched = r.get("single", nan), r.get("batched", nan)
        print(f"  {name:<42} {single:>11.1f}/s {single / spiff:>7.2f}x {batched:>12.1f}/s {batched / spiff:>7.2f}x"
              f" {r.get('statements', nan):>11.1f} {r.get('commits', nan):>13.1f}")
    print(f"  {spiff_name:<42} {spiff:>11.1f}/s {1.0:>7.2f}x")
    print("targets (issue 11): Ordo on SQLite >= 0.5x SpiffWorkflow one per commit, >= 1x batched; <= 20 statements"
          " and 2 commits per instance")


if __name__ == "__main__":
    main()
