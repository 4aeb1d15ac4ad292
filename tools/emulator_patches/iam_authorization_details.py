"""GetAccountAuthorizationDetails in pages, which moto answers in one whatever MaxItems says.

AWS (IAM API reference, GetAccountAuthorizationDetails): `MaxItems` (1 to 1,000, default 100) bounds the items of a
response; a longer answer sets `IsTruncated` and a `Marker` to pass back for the next page. A client that reads
only the first page of a large account would miss roles; here, as on AWS, it would. Roles, users, groups and
policies are counted together in the order the response lists them.
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.iam.exceptions import ValidationError
from moto.iam.responses import IamResponse

DEFAULT_MAX_ITEMS = 100
MAX_ITEMS = 1000
LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def apply() -> None:
    answer_whole = IamResponse.get_account_authorization_details

    def answer_in_pages(self: IamResponse) -> ActionResult:
        whole = answer_whole(self).result
        given = self._get_param("MaxItems")
        max_items = DEFAULT_MAX_ITEMS if given is None else int(given)
        if not 1 <= max_items <= MAX_ITEMS:
            raise ValidationError(f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to "
                                  f"satisfy constraint: Member must have value between 1 and {MAX_ITEMS}")
        marker = str(self._get_param("Marker") or "0")
        if not marker.isdigit():
            raise ValidationError("Invalid Marker: pass the Marker of the previous page")
        start = int(marker)
        items = [(name, item) for name in LISTS for item in whole.get(name) or []]
        page = items[start:start + max_items]
        answer = {name: [item for listed, item in page if listed == name] for name in LISTS}
        answer["IsTruncated"] = start + max_items < len(items)
        if answer["IsTruncated"]:
            answer["Marker"] = str(start + max_items)
        return ActionResult(answer)

    IamResponse.get_account_authorization_details = answer_in_pages
