# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Options that select the fleet of one account-region.
    DOCUMENTATION = r"""
options:
  suffix:
    description:
      - Select the functions whose names end in C(-<suffix>), e.g. C(dev) selects C(api-handler-dev)
        but not C(transform-dev2).
      - Lowercase letters, digits and inner hyphens.
      - One of O(suffix) and O(functions) is required (or C(usage), in the modules that take it); with both, only
        listed functions with the suffix.
    type: str
  functions:
    description:
      - Select these functions, by name or as the per-function results of another module of this
        collection (anything with a C(function_name) key).
      - Names that do not exist are reported and fail the task after the others are done.
    type: list
    elements: raw
  name_pattern:
    description:
      - Further narrow the selection to names matching this shell-style pattern, e.g. C(api-*).
    type: str
  tags:
    description:
      - Further narrow the selection to functions carrying all of these tags with these values.
    type: dict
"""
