"""Drawing a flow: the mermaid flowchart of ``irflow flow show --format mermaid``."""

from __future__ import annotations

from irflow.engine.flow.compiled import Flow
from irflow.engine.flow.schema import CLOSED
from irflow.engine.phrases import PhraseBook

_WORDING = PhraseBook("mermaid", {"optional": (), "seed_numbers": ()})


def mermaid(flow: Flow) -> str:
    """The flow as a mermaid flowchart: phases as subgraphs, steps as nodes."""
    out = ["flowchart TD"]
    if flow.stateful:
        for st in flow.spec.states:
            out.append(f'  {st.id}(["{st.title}"])')
        out.append(f'  {CLOSED}(["{flow.state_titles[CLOSED]}"])')
        for action in flow.spec.actions:
            targets = [action.to] if isinstance(action.to, str) else [t.state for t in action.to]
            for source in action.sources:
                for target in targets:
                    label = f"{action.title}<br/><i>{action.by}</i>"
                    out.append(f'  {source} -- "{label}" --> {target}')
        return "\n".join(out)
    for phase in flow.spec.phases:
        out.append(f'  subgraph {phase.id}["{phase.title}"]')
        for s in phase.steps:
            mark = f"{_WORDING['seed_numbers'][s.seed_no - 1]} " if s.seed_no else ""
            optional = "" if s.required else _WORDING["optional"]
            out.append(f'    {s.id}["{mark}{s.title}{optional}<br/><i>{s.tier}</i>"]')
        out.append("  end")
    for step in flow.steps.values():
        for dep in step.requires:
            out.append(f"  {dep} --> {step.id}")
    return "\n".join(out)
