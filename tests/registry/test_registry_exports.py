import toolkernel.registry


def test_exported_members() -> None:
    assert toolkernel.registry.__all__ == [
        "CALL_OUTCOMES",
        "HISTORY_KEEP",
        "SERVER_STATES",
        "STOP_WORDS",
        "TOOL_KINDS",
        "USER_NAMESPACE",
        "BlobStore",
        "CallRecord",
        "CatalogSnapshot",
        "NewVersion",
        "SearchHit",
        "ServerStatus",
        "ToolRegistry",
        "ToolVersion",
        "check_tool_name",
        "tool_namespace",
    ]
    assert all(hasattr(toolkernel.registry, name) for name in toolkernel.registry.__all__)
