import toolkernel.registry


def test_exported_members() -> None:
    assert toolkernel.registry.__all__ == [
        "SERVER_STATES",
        "STOP_WORDS",
        "BlobStore",
        "CatalogSnapshot",
        "SearchHit",
        "ServerStatus",
        "ToolRegistry",
    ]
    assert all(hasattr(toolkernel.registry, name) for name in toolkernel.registry.__all__)
