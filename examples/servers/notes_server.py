"""notes: a tiny MCP server that keeps notes in memory, for the toolkernel quickstart.

Run it over stdio (what `mcp.json` launches):

    python examples/servers/notes_server.py

Or over streamable HTTP at http://127.0.0.1:8765/mcp:

    python examples/servers/notes_server.py --transport http --port 8765

Notes live only as long as the process. Every tool returns structured output, so in a
toolkernel notebook the results come back as plain Python dicts and lists:

    note = await tools.notes.add_note(title="Groceries", body="eggs, milk", tags=["home"])
    await tools.notes.list_notes(tag="home")
"""

import argparse
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from typing_extensions import TypedDict


class Note(TypedDict):
    """A note, in full."""

    id: int
    title: str
    body: str
    tags: list[str]


class NoteSummary(TypedDict):
    """A note without its body, as listed by `list_notes`."""

    id: int
    title: str
    tags: list[str]


class SearchHit(TypedDict):
    """A note that matched a search, with the line of text where it matched."""

    id: int
    title: str
    snippet: str


class NotesStore:
    """Notes in memory, with ids handed out 1, 2, 3, ... in the order notes are added."""

    def __init__(self) -> None:
        self._notes: dict[int, Note] = {}
        self._next_id = 1

    def add(self, title: str, body: str, tags: list[str]) -> Note:
        note: Note = {"id": self._next_id, "title": title, "body": body, "tags": tags}
        self._notes[note["id"]] = note
        self._next_id += 1
        return note

    def get(self, note_id: int) -> Note:
        try:
            return self._notes[note_id]
        except KeyError:
            known = ", ".join(str(i) for i in self._notes) or "none yet"
            msg = f"no note with id {note_id}; known ids: {known}. Use list_notes to see them."
            raise ToolError(msg) from None

    def all(self) -> list[Note]:
        return list(self._notes.values())


mcp: MCPServer = MCPServer(
    "notes",
    version="1.0.0",
    instructions=(
        "An in-memory notebook. Add notes with add_note, browse them with list_notes "
        "(optionally by tag), find them with search_notes and read one with get_note."
    ),
    log_level="WARNING",
)
store = NotesStore()


@mcp.tool()
def add_note(
    title: Annotated[str, Field(description="A short title, e.g. 'Groceries'.")],
    body: Annotated[str, Field(description="The text of the note; may span several lines.")],
    tags: Annotated[
        list[str] | None, Field(description="Optional labels, e.g. ['home', 'todo'].")
    ] = None,
) -> Note:
    """Save a new note and return it, with the id it was given."""
    clean_tags = sorted({tag.strip().lower() for tag in tags or [] if tag.strip()})
    return store.add(title.strip(), body, clean_tags)


@mcp.tool()
def list_notes(
    tag: Annotated[
        str | None, Field(description="Only notes with this tag; leave out for every note.")
    ] = None,
) -> list[NoteSummary]:
    """List notes (id, title and tags), oldest first, optionally only those with one tag."""
    wanted = tag.strip().lower() if tag else None
    return [
        {"id": note["id"], "title": note["title"], "tags": note["tags"]}
        for note in store.all()
        if wanted is None or wanted in note["tags"]
    ]


@mcp.tool()
def search_notes(
    query: Annotated[str, Field(description="Text to look for; case does not matter.")],
) -> list[SearchHit]:
    """Find notes whose title, body or tags contain the query, with the matching line."""
    needle = query.strip().lower()
    if not needle:
        msg = "query is empty; give a word or phrase to look for"
        raise ToolError(msg)
    hits: list[SearchHit] = []
    for note in store.all():
        lines = [note["title"], *note["body"].splitlines(), " ".join(note["tags"])]
        match = next((line for line in lines if needle in line.lower()), None)
        if match is not None:
            hits.append({"id": note["id"], "title": note["title"], "snippet": match.strip()})
    return hits


@mcp.tool()
def get_note(
    id: Annotated[int, Field(description="The id that add_note or list_notes gave.")],
) -> Note:
    """Read one note in full: title, body and tags."""
    return store.get(id)


def main() -> None:
    parser = argparse.ArgumentParser(description="An in-memory notes MCP server.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if args.transport == "stdio":
        mcp.run("stdio")
    else:
        mcp.run("streamable-http", host=args.host, port=args.port)


if __name__ == "__main__":
    main()
