"""Is the model's answer usable? Schema first (strict pydantic), then our own data: the category,
team and cited knowledge-base chunks must exist."""

from __future__ import annotations

from triage.kb.models import Chunk
from triage.schemas import OutputInvalid, TriageOutput, triage_output_parse


def output_validate(raw: str, *, category_slugs: set[str], team_slugs: set[str]) -> TriageOutput:
    output = triage_output_parse(raw)
    problems = []
    if output.category not in category_slugs:
        problems.append(f"category {output.category!r} does not exist")
    if output.team not in team_slugs:
        problems.append(f"team {output.team!r} does not exist")
    cited = set(output.citations)
    if cited:
        known = set(Chunk.objects.filter(pk__in=cited).values_list("pk", flat=True))
        if unknown := sorted(cited - known):
            problems.append(f"cited knowledge-base chunks {unknown} do not exist")
    if problems:
        raise OutputInvalid("; ".join(problems))
    return output
