"""Pure helper imported by the UDF on the Python workers."""


def tag(seq: int) -> str:
    """Bucket label of a sequence number."""
    return f"b{seq % 7}"
