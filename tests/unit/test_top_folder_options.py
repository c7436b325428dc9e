"""The rsync options of the top folder's own pass: the job's minus every filter option
(vhpi.decide.rsync_options.without_filter_options), each other option with its argument."""

import pytest

from vhpi.decide.rsync_options import without_filter_options


@pytest.mark.parametrize("words, kept", [
    (("-aHAXS", "--delete", "--numeric-ids"), ("-aHAXS", "--delete", "--numeric-ids")),
    (("-aF", "--include=x", "--exclude", "y", "-v"), ("-a", "-v")),
    (("-avf", "- *.o", "-C", "--chmod", "D755", "-B", "1024", "-aCFv"),
     ("-av", "--chmod", "D755", "-B", "1024", "-av")),
    (("-af- x", "--filter=+ a", "--exclude-from=f", "--include-from", "g", "--cvs-exclude", "-FF",
      "--bwlimit", "100"), ("-a", "--bwlimit", "100")),
    (("--chmod", "-F", "-v"), ("--chmod", "-F", "-v")),  # an option's argument is not an option
])
def test_filter_options_go_and_every_other_option_keeps_its_argument(words, kept):
    assert without_filter_options(words) == kept
