"""The schema group: show the JSON schema, the Label Studio config, the built-in schemas."""

from __future__ import annotations

import json

import click

from .ui import out, schema_argument


@click.group()
def schema() -> None:
    """Inspect schemas (built-in names, .py files, or module:Model).

    \b
    Examples:
      annotator schema list
      annotator schema show news_events
    """


@schema.command("show")
@schema_argument
def schema_show(name: str) -> None:
    """Print the JSON schema the LLM gets.

    \b
    Example:
      annotator schema show news_events
    """
    from ..schema import load_schema

    out.print_json(json.dumps(load_schema(name).llm_json_schema()))


@schema.command("config")
@schema_argument
def schema_config(name: str) -> None:
    """Print the Label Studio labeling config generated from the schema.

    \b
    Example:
      annotator schema config news_events > config.xml
    """
    from ..labelstudio.config import label_config
    from ..schema import load_schema

    click.echo(label_config(load_schema(name)))


@schema.command("list")
def schema_list() -> None:
    """List the built-in schemas.

    \b
    Example:
      annotator schema list
    """
    from ..schema import available

    for name in available():
        out.print(name)


COMMANDS = [schema]
