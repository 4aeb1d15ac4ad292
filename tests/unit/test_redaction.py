"""Error text without environment variables' values: what AWS echoes when it refuses an environment, and what the
collection's own refusals quote."""

from ansible_collections.tap.lambdaopt.plugins.module_utils.redaction import redact_environment

SECRET = "pa55-word-never-shown"


def test_lambdas_size_refusal_keeps_its_reason_and_loses_what_it_measured():
    message = ("An error occurred (InvalidParameterValueException) when calling the UpdateFunctionConfiguration "
               "operation: Lambda was unable to configure your environment variables because the environment "
               "variables you have provided exceeded the 4KB limit. String measured: "
               f'{{"DB_PASSWORD":"{SECRET}","PAD":"xxxx"}}')
    redacted = redact_environment(message)
    assert SECRET not in redacted and "xxxx" not in redacted
    assert redacted.endswith("exceeded the 4KB limit. String measured: (redacted)")


def test_a_measured_string_cut_short_is_dropped_too():
    assert redact_environment(f'String measured: {{"A":"{SECRET}') == "String measured: (redacted)"


def test_quoted_variables_keep_their_names_only():
    moved = {"DB_PASSWORD": SECRET, "QUOTE": "it's \"quoted\"", "EMPTY": ""}
    message = f"changed by someone else since it was read: environment is now {moved!r} (planned from {{}})"
    redacted = redact_environment(message)
    assert SECRET not in redacted and "quoted" not in redacted
    assert "'DB_PASSWORD': (redacted)" in redacted and "'EMPTY': (redacted)" in redacted
    assert redacted.endswith("(planned from {})")


def test_json_with_escaped_quotes_is_redacted():
    assert redact_environment('{"TOKEN": "a\\"b' + SECRET + '"}') == '{"TOKEN": (redacted)}'


def test_text_without_variables_is_left_as_it_is():
    message = "its state is Failed (EniLimitExceeded): Lambda changes nothing until it is redeployed"
    assert redact_environment(message) == message
