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
import contextlib
import os
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
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


def _rate(fn, n: int) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


class OrdoBench:
    """One durable engine (an app on a database): instances per second, one per commit and batched."""

    def __init__(self, app, size: int) -> None:  # noqa: ANN001 - an ordo App
        from ordo.engine.stats import count_statements

        self.app, self.size, self.next = app, size, 0
        lifecycle(app, 0)  # first use registers the flow version
        with count_statements(app.engine) as counts:
            for i in range(10):
                lifecycle(app, i)
        self.statements, self.commits = counts.statements / 10, counts.commits / 10

    def single(self, n: int) -> float:
        return _rate(lambda: [lifecycle(self.app, i) for i in range(n)], n)

    def batched(self, n: int) -> float:
        return _rate(lambda: [batch(self.app, s, min(self.size, n - s)) for s in range(0, n, self.size)], n)

    def check(self) -> None:
        flows = self.app.features["flows"]
        with self.app.reader("admin") as tx:
            last = tx.query("claim", order_by="-id", limit=1)[0]
            assert flows.status(tx, "claim", last["id"]).outcome == "approved"
            assert not flows.inbox(tx, "mia") and not flows.inbox(tx, "dan")


def spiff_bench():  # noqa: ANN201
    """A function running n SpiffWorkflow instances in memory (ImportError if it is not installed)."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser import BpmnParser
    from SpiffWorkflow.util.task import TaskState

    with tempfile.NamedTemporaryFile("w", suffix=".bpmn", delete=False) as f:
        f.write(BPMN)
    parser = BpmnParser()
    parser.add_bpmn_file(f.name)
    spec = parser.get_spec("claim_approval")
    os.unlink(f.name)

    def run(n: int) -> None:
        for i in range(n):
            wf = BpmnWorkflow(spec)
            wf.get_tasks(state=TaskState.READY)[0].data["amount"] = _amount(i)
            wf.do_engine_steps()
            task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
            task.run()
            wf.do_engine_steps()
            assert wf.is_completed()

    return run


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def main() -> None:
    from ordo.engine import open_app

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="instances per engine and round")
    ap.add_argument("--batch", type=int, default=10, help="instances per transaction in the batched run")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, engines interleaved; the best round counts")
    ap.add_argument("--pg", default=os.environ.get("ORDO_BENCH_PG_URL") or os.environ.get("ORDO_TEST_PG_URL"),
                    help="PostgreSQL URL (skipped if none)")
    args = ap.parse_args()
    nan, n = float("nan"), args.n
    try:
        spiff_run = spiff_bench()
        spiff_name = "SpiffWorkflow (BPMN, in memory)"
    except ImportError:
        spiff_run, spiff_name = None, "SpiffWorkflow (not installed: pip install 'ordo[bench]')"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        app_dir = write_app(Path(tmp) / "app")
        engines = {"Ordo on SQLite (file, WAL)": f"sqlite:///{tmp}/bench.db"}
        if args.pg:
            engines["Ordo on PostgreSQL"] = stack.enter_context(pg_schema(args.pg))
        benches = {name: OrdoBench(stack.enter_context(open_app(app_dir, url)), args.batch)
                   for name, url in engines.items()}
        best: dict[str, float] = {}
        for _ in range(args.rounds):  # interleaved: a busy moment of the machine hits every engine alike
            if spiff_run is not None:
                best["spiff"] = max(best.get("spiff", 0.0), _rate(lambda: spiff_run(n), n))
            for name, b in benches.items():
                best[name] = max(best.get(name, 0.0), b.single(n))
                best[name + " batched"] = max(best.get(name + " batched", 0.0), b.batched(n))
        for b in benches.values():
            b.check()
    spiff = best.get("spiff", nan)
    print(f"3-step approval (start, condition on amount, one approval, end): {n} instances per engine and round, "
          f"best of {args.rounds} interleaved rounds")
    print(f"  {'engine':<42} {'1 per commit':>13} {'x Spiff':>8} {f'{args.batch} per commit':>14} {'x Spiff':>8}"
          f" {'stmts/inst':>11} {'commits/inst':>13}")
    for name, b in benches.items():
        single, batched = best[name], best[name + " batched"]
        print(f"  {name:<42} {single:>11.1f}/s {single / spiff:>7.2f}x {batched:>12.1f}/s {batched / spiff:>7.2f}x"
              f" {b.statements:>11.1f} {b.commits:>13.1f}")
    if not args.pg:
        print("  Ordo on PostgreSQL: skipped (no --pg URL, ORDO_BENCH_PG_URL or ORDO_TEST_PG_URL)")
    print(f"  {spiff_name:<42} {spiff:>11.1f}/s {1.0:>7.2f}x")
    print("targets (issue 11): Ordo on SQLite >= 0.5x SpiffWorkflow one per commit, >= 1x batched; <= 20 statements"
          " and 2 commits per instance")


if __name__ == "__main__":
    main()
