"""The data table as the handler tests see it: a real DynamoDB client whose calls Stubber answers."""

from botocore.stub import Stubber

TABLE = "data-table-test"


def expect_write(stubber: Stubber, requests: list, unprocessed: list | None = None) -> None:
    """Expect one BatchWriteItem of exactly these put requests, answered with these unprocessed ones."""
    stubber.add_response(
        "batch_write_item",
        {"UnprocessedItems": {TABLE: unprocessed} if unprocessed else {}},
        {"RequestItems": {TABLE: requests}},
    )
