"""Reading flows: a flow file's text, a file on disk, or a flow bundled with irflow."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from irflow.engine.flow.checks import check_graph, schema_hint
from irflow.engine.flow.compiled import Flow
from irflow.engine.flow.schema import FlowSpec
from irflow.engine.yamlfile import load_mapping, validate
from irflow.errors import NotFound


def parse_flow(source: str, *, path: str = "<flow>") -> Flow:
    """Validate a flow file's text; refuse it with file, line and fix if it is broken."""
    data, lines = load_mapping(
        source, path=path, what="a flow file is a YAML mapping with name, kinds and phases"
    )
    spec = validate(FlowSpec, data, path=path, lines=lines, hint=schema_hint)
    check_graph(spec, path, lines)
    return Flow(spec, source=source, path=path)


def load_flow_file(path: Path) -> Flow:
    try:
        source = path.read_text("utf-8")
    except FileNotFoundError:
        raise NotFound(
            f"no flow file {str(path)!r}; give the path of a .yaml file, or one of the "
            f"bundled flows: {', '.join(BUNDLED)}"
        ) from None
    return parse_flow(source, path=str(path))


BUNDLED = ("incident", "mislink", "inquiry")


def bundled_flow(name: str) -> Flow:
    """A flow shipped in ``irflow/flows/``."""
    if name not in BUNDLED:
        raise NotFound(f"no bundled flow {name!r}; the flows are {', '.join(BUNDLED)}")
    text = resources.files("irflow.flows").joinpath(f"{name}.yaml").read_text("utf-8")
    return parse_flow(text, path=f"irflow/flows/{name}.yaml")
