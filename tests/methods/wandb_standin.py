"""A local stand-in for W&B's GraphQL server, for the real ``wandb.Api`` client.

It answers the queries the installed wandb (0.31) sends to read a sweep and its runs -- Viewer,
GetDefaultEntity, GetSweep, Runs (paginated), Run, RunSampledHistory -- with responses shaped like
W&B's (configs and summaries as JSON strings, configs as ``{"key": {"value": ...}}``). Any other
query fails the test loudly: a new wandb that asks for more must be answered here on purpose.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from typing_extensions import Self


@dataclass
class StandInRun:
    name: str
    state: str
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StandInSweep:
    entity: str
    project: str
    name: str
    config_yaml: str
    runs: list[StandInRun]


class WandbStandIn:
    def __init__(self, sweeps: list[StandInSweep]) -> None:
        self.sweeps = {(s.entity, s.project, s.name): s for s in sweeps}
        self.queries: list[str] = []
        self.unanswered: list[str] = []
        #: Requests to other paths than /graphql (answered with an empty JSON object).
        self.other_requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/graphql":
                    # The client's own telemetry (OpenTelemetry metrics at /sdk/otel/v1/metrics).
                    stand_in.other_requests.append(self.path)
                    payload = b"{}"
                else:
                    body = json.loads(raw)
                    data = stand_in.answer(body.get("query", ""), body.get("variables") or {})
                    payload = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the queries -------------------------------------------------------------------------

    def answer(self, query: str, variables: dict[str, Any]) -> dict[str, Any] | None:
        match = re.search(r"(?:query|mutation)\s+(\w+)", query)
        name = match.group(1) if match else ""
        self.queries.append(name)
        if name == "Viewer":
            return {"viewer": {"id": "u1", "entity": "team", "username": "someone", "flags": None,
                               "teams": {"edges": []}}}
        if name == "GetDefaultEntity":
            return {"viewer": {"id": "u1", "entity": "team"}}
        sweep = self._sweep(variables)
        if name == "GetSweep":
            return {"project": None if sweep is None else {"sweep": self._sweep_fragment(sweep)}}
        if name == "Runs":
            return {"project": None if sweep is None else self._runs_page(sweep, variables)}
        if name == "Run":
            run = self._run(variables)
            return {"project": {"run": None if run is None else self._run_fragment(run, full=True)}}
        if name == "RunSampledHistory":
            run = self._run(variables)
            keys = json.loads(variables["specs"][0])["keys"]
            rows = [] if run is None else [{k: row[k] for k in keys if k in row} for row in run.history]
            return {"project": {"run": {"sampledHistory": [rows]}}}
        self.unanswered.append(name)
        return None

    def _sweep(self, variables: dict[str, Any]) -> StandInSweep | None:
        sweep_name = variables.get("name") or _sweep_filter(variables.get("filters"))
        for (entity, project, name), sweep in self.sweeps.items():
            if variables.get("entity") == entity and variables.get("project") == project and (
                    sweep_name is None or sweep_name == name):
                return sweep
        return None

    def _run(self, variables: dict[str, Any]) -> StandInRun | None:
        for sweep in self.sweeps.values():
            for run in sweep.runs:
                if run.name == variables.get("name"):
                    return run
        return None

    def _sweep_fragment(self, sweep: StandInSweep) -> dict[str, Any]:
        return {"__typename": "Sweep", "id": f"sweep-{sweep.name}", "name": sweep.name,
                "displayName": sweep.name, "method": "random", "state": "FINISHED", "description": None,
                "bestLoss": None, "config": sweep.config_yaml, "createdAt": "2026-01-01T00:00:00",
                "updatedAt": "2026-01-02T00:00:00", "runCount": len(sweep.runs), "runCountExpected": None}

    def _run_fragment(self, run: StandInRun, *, full: bool = False) -> dict[str, Any]:
        fragment = {"id": f"id-{run.name}", "tags": [], "name": run.name, "displayName": run.name,
                    "sweepName": None, "state": run.state, "group": None, "jobType": None, "commit": None,
                    "readOnly": False, "createdAt": "2026-01-01T00:00:00", "heartbeatAt": "2026-01-01T01:00:00",
                    "description": None, "notes": None, "historyLineCount": len(run.history),
                    "user": {"name": "someone", "username": "someone"}, "projectId": "1"}
        if full:
            fragment.update(
                config=json.dumps({k: {"value": v, "desc": None} for k, v in run.config.items()}),
                summaryMetrics=json.dumps(run.summary), systemMetrics="{}", historyKeys=None)
        return fragment

    def _runs_page(self, sweep: StandInSweep, variables: dict[str, Any]) -> dict[str, Any]:
        start = int(variables.get("cursor") or 0)
        size = int(variables.get("perPage") or 50)
        page = sweep.runs[start:start + size]
        end = start + len(page)
        return {"internalId": "1", "runCount": len(sweep.runs), "readOnly": False, "runs": {
            "edges": [{"node": self._run_fragment(r), "cursor": str(start + i + 1)} for i, r in enumerate(page)],
            "pageInfo": {"endCursor": str(end), "hasNextPage": end < len(sweep.runs)}}}


def _sweep_filter(filters: str | None) -> str | None:
    if not filters:
        return None
    found = re.search(r'"sweep":\s*"([^"]+)"', filters)
    return found.group(1) if found else None
