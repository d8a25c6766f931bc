"""Flow instances per second: a 3-step approval (start, condition on amount, one approval, end),
started and completed through the Ordo engine API on SQLite and PostgreSQL, next to SpiffWorkflow
running the equivalent BPMN process in memory.

    python bench/flows.py [--n 300] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each Ordo instance is two transactions, as in real use: the submitter creates the record (which
starts the flow: condition, task, notification, history) and the approver approves (task, history,
record state, completion). SpiffWorkflow keeps everything in memory (no persistence).
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


def bench_ordo(app_dir: Path, url: str, n: int) -> float:
    from ordo.engine import open_app

    with open_app(app_dir, url) as app:
        flows = app.features["flows"]
        app.create("claim", {"amount": 1}, "warmup")  # first use registers the flow version
        t0 = time.perf_counter()
        for i in range(n):
            amount = 5000 if i % 2 else 100
            rec = app.create("claim", {"amount": amount}, "alice")
            approver = "dan" if amount > 1000 else "mia"
            with app.transaction(approver) as tx:
                task = flows.status(tx, "claim", rec["id"]).tasks[0]["id"]
                flows.approve(tx, task)
        elapsed = time.perf_counter() - t0
        with app.reader("admin") as tx:
            assert flows.status(tx, "claim", rec["id"]).outcome == "approved"
    return n / elapsed


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
    ap.add_argument("--pg", default=os.environ.get("ORDO_TEST_PG_URL"), help="PostgreSQL URL (skipped if none)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        app_dir = write_app(Path(tmp) / "app")
        rows.append(("Ordo on SQLite (file, WAL)", bench_ordo(app_dir, f"sqlite:///{tmp}/bench.db", args.n)))
        if args.pg:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            try:
                sep = "&" if "?" in args.pg else "?"
                url = f"{args.pg}{sep}options=-csearch_path%3D{schema}"
                rows.append(("Ordo on PostgreSQL", bench_ordo(app_dir, url, args.n)))
            finally:
                with admin.connect() as c:
                    c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()
        else:
            rows.append(("Ordo on PostgreSQL", float("nan")))
    try:
        rows.append(("SpiffWorkflow (BPMN, in memory)", bench_spiff(args.n)))
    except ImportError:
        rows.append(("SpiffWorkflow (not installed: pip install 'ordo[bench]')", float("nan")))
    print(f"3-step approval (start, condition on amount, one approval, end), {args.n} instances each")
    for name, rate in rows:
        print(f"  {name:<45} {rate:>10.1f} instances/s")


if __name__ == "__main__":
    main()
