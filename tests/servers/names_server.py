"""names: an MCP server whose tool names are not Python identifiers, and nested parameters.

Run: `python tests/servers/names_server.py`. Give it a hyphenated name in mcp.json
(`my-names`) so that its source name is not an identifier either.

Tools:

- `class(text)`: a keyword as a tool name, registered on `def klass(...) -> str`; its
  structured output is the SDK's wrapper `{"result": ...}` titled `klassOutput`, after the
  function, not the tool.
- `2fa(code)`: a leading digit; returns `2fa ok <code>`.
- `get-weather(city)` and `get_weather(city)`: two names that collide once sanitised;
  each returns its own name and the city, so a test can tell which one ran.
- `add_contacts(contacts, dry_run=False)`: a list of objects (name, emails, optional
  address object) as a parameter; returns how many contacts and emails it got.
"""

from typing import Annotated, NotRequired

from mcp.server import MCPServer
from pydantic import Field
from typing_extensions import TypedDict

server: MCPServer = MCPServer("names", version="1.0.0", log_level="WARNING")


class Address(TypedDict):
    """Where a contact lives."""

    city: str
    postcode: NotRequired[str]


class Contact(TypedDict):
    """One contact to add."""

    name: str
    emails: list[str]
    address: NotRequired[Address]


@server.tool(name="class")
def klass(text: str) -> str:
    """Classify `text`: returns `class <text>`."""
    return f"class {text}"


@server.tool(name="2fa")
def two_factor(code: str) -> str:
    """Check a two-factor code: returns `2fa ok <code>`."""
    return f"2fa ok {code}"


@server.tool(name="get-weather")
def get_weather_hyphen(city: str) -> str:
    """Weather, from the tool with a hyphen in its name."""
    return f"get-weather {city}"


@server.tool(name="get_weather")
def get_weather_underscore(city: str) -> str:
    """Weather, from the tool with an underscore in its name."""
    return f"get_weather {city}"


@server.tool()
def add_contacts(
    contacts: Annotated[list[Contact], Field(description="The contacts to add.")],
    dry_run: Annotated[bool, Field(description="Only count them. Nothing is saved")] = False,
) -> str:
    """Add contacts to the address book."""
    emails = sum(len(contact["emails"]) for contact in contacts)
    return f"{len(contacts)} contacts, {emails} emails, dry_run={dry_run}"


if __name__ == "__main__":
    server.run()
