"""The template checks: a broken template fails when loaded, not in front of the recipient.

``check_templates`` parses every template, compares the variables it reads with its
context's fields, then renders it under ``StrictUndefined`` with every sample context
of its family, read from ``irflow/templates/samples.yaml`` (optional fields set and
unset, both parts of the report), so that a misspelled attribute in any branch the
samples reach raises ``TemplateFieldError`` naming the template and the field.

``load_environment`` builds an environment and checks it; ``default_environment`` is
the bundled templates, checked once per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from irflow.engine.forms.contexts import FAMILIES, Context, family_of, field_names
from irflow.engine.forms.environment import (
    build_environment,
    render_template,
    split_mail,
)
from irflow.engine.forms.stored import context_from_data
from irflow.engine.yamlfile import load_mapping
from irflow.errors import InvalidFlow, InvalidInput, TemplateFieldError

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment

SAMPLES_PATH = "irflow/templates/samples.yaml"


def check_templates(env: Environment | None = None) -> None:
    """Parse and render every template with complete sample contexts; raise if one is broken.

    ``env`` defaults to an unchecked environment over the bundled templates. Raises
    ``TemplateFieldError`` (an ``InvalidInput``) naming the template and the missing
    field, or ``InvalidInput`` for a syntax error, a missing template or a mail
    template without its subject line.
    """
    from jinja2 import TemplateSyntaxError, meta

    env = env if env is not None else build_environment()
    if env.loader is None:
        raise InvalidInput("the template environment has no loader")
    names = sorted(env.list_templates(filter_func=lambda n: n.endswith(".j2")))
    required = [name for family in FAMILIES.values() for name in family.template_names()]
    missing = [name for name in required if name not in names]
    if missing:
        raise InvalidInput(f"templates missing from the template folder: {', '.join(missing)}")
    known = set(env.globals)
    for name in names:
        family = None if name.rsplit("/", 1)[-1].startswith("_") else family_of(name)
        available = field_names(family.context) if family else []
        owner = family.context.__name__ if family else "a partial (it sees its macro arguments)"
        source, _, _ = env.loader.get_source(env, name)
        try:
            ast = env.parse(source, name)
        except TemplateSyntaxError as error:
            raise InvalidInput(f"template {name!r} line {error.lineno}: {error.message}") from None
        unknown = sorted(meta.find_undeclared_variables(ast) - known - set(available))
        if unknown:
            detail = f"{owner} has no field {unknown[0]!r}"
            raise TemplateFieldError(name, unknown[0], detail, available)
        if family is None:
            continue
        template = env.get_template(name)
        for sample in samples()[family.name]:
            text = render_template(template, name, sample)
            if family.mail:
                split_mail(name, text)


def load_environment(loader: BaseLoader | None = None) -> Environment:
    """``build_environment(loader)``, then ``check_templates`` on it: ready to render."""
    env = build_environment(loader)
    check_templates(env)
    return env


@cache
def default_environment() -> Environment:
    """The bundled templates, checked once per process."""
    return load_environment()


@cache
def samples() -> Mapping[str, tuple[Context, ...]]:
    """The sample contexts of every family, from ``samples.yaml`` (read once per process)."""
    text = resources.files("irflow").joinpath("templates", "samples.yaml").read_text("utf-8")
    data, lines = load_mapping(
        text, path=SAMPLES_PATH, what="samples.yaml maps each template family to its samples"
    )
    unknown = [name for name in data if name not in FAMILIES]
    if unknown:
        raise InvalidFlow(
            f"{unknown[0]} is not a template family; use one of {', '.join(FAMILIES)}",
            path=SAMPLES_PATH,
            line=lines.nearest((unknown[0],)),
        )
    built: dict[str, tuple[Context, ...]] = {}
    for name, family in FAMILIES.items():
        entries = data.get(name)
        if not isinstance(entries, list) or not entries:
            raise InvalidFlow(
                f"{name}: give a list of sample {family.context.__name__}s",
                path=SAMPLES_PATH,
                line=lines.nearest((name,)),
            )
        built[name] = tuple(
            _sample(family.context, entry, f"{SAMPLES_PATH} {name}[{i}]")
            for i, entry in enumerate(entries)
        )
    return built


def _sample(context: type[Context], entry: object, where: str) -> Context:
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"{where}: a sample is a mapping of the fields of {context.__name__}")
    return context_from_data(context, entry, where)
