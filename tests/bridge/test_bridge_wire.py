"""The bridge reads kernel messages off the socket as jupyter_client would, dates aside."""

from __future__ import annotations

from datetime import datetime

import pytest
from jupyter_client.session import Session

from toolkernel.bridge._wire import _unpack


def signed(session: Session, parent: Session | None = None) -> list[bytes]:
    request = (parent or session).msg("execute_request", {"code": "x = 1"})
    reply = session.msg("execute_reply", {"status": "ok"}, parent=request, metadata={"m": 1})
    frames: list[bytes] = session.serialize(reply, ident=b"topic")
    return frames


def test_a_message_unpacks_as_deserialize_makes_it_with_dates_as_text() -> None:
    session = Session(key=b"secret")
    frames = signed(session)
    ours = _unpack(session, frames)
    theirs = Session(key=b"secret").deserialize(Session(key=b"secret").feed_identities(frames)[1])
    assert ours["msg_type"] == theirs["msg_type"] == "execute_reply"
    assert ours["content"] == theirs["content"] == {"status": "ok"}
    assert ours["metadata"] == theirs["metadata"]
    assert ours["parent_header"]["msg_id"] == theirs["parent_header"]["msg_id"]
    assert isinstance(ours["header"]["date"], str)
    assert datetime.fromisoformat(ours["header"]["date"]) == theirs["header"]["date"]


def test_a_message_signed_with_another_key_is_refused() -> None:
    frames = signed(Session(key=b"not ours"))
    with pytest.raises(ValueError, match="signature is wrong"):
        _unpack(Session(key=b"secret"), frames)


def test_a_replayed_message_is_refused() -> None:
    session = Session(key=b"secret")
    frames = signed(session)
    _unpack(session, frames)
    with pytest.raises(ValueError, match="seen before"):
        _unpack(session, frames)


def test_a_truncated_message_is_refused() -> None:
    session = Session(key=b"secret")
    with pytest.raises(ValueError, match="fewer than 5"):
        _unpack(session, signed(session)[:4])
