"""vhpi.decide.copy_check and the rsync option questions it needs: is a copy in
backup.latest the entry a pinned pass's child saw?"""

import pytest

from vhpi.decide.copy_check import FILE, FOLDER, OTHER, SYMLINK, EntryFacts, copied_from_elsewhere
from vhpi.decide.rsync_options import follows_symlinks, keeps_times

F = EntryFacts(FILE, 120, 1_700_000_000_123456789)


@pytest.mark.parametrize("copied, times_kept, links_followed, elsewhere", [
    (F, True, False, False),
    (EntryFacts(FILE, 121, F.mtime_ns), True, False, True),       # another size
    (EntryFacts(FILE, 120, F.mtime_ns + 1), True, False, True),   # another time, to the ns
    (EntryFacts(FILE, 120, F.mtime_ns + 1), False, False, False),  # times not kept: size only
    (EntryFacts(SYMLINK, target=b"/etc"), True, False, True),     # another kind
    (EntryFacts(FOLDER), True, False, True),
])
def test_a_file(copied, times_kept, links_followed, elsewhere):
    assert copied_from_elsewhere(F, copied, times_kept, links_followed) is elsewhere


def test_symlinks_compare_their_targets_unless_the_options_follow_them():
    link = EntryFacts(SYMLINK, target=b"docs/a.txt")
    assert not copied_from_elsewhere(link, EntryFacts(SYMLINK, target=b"docs/a.txt"), True, False)
    assert copied_from_elsewhere(link, EntryFacts(SYMLINK, target=b"/etc/passwd"), True, False)
    assert not copied_from_elsewhere(link, F, True, True)  # -L: the referent was copied


def test_folders_and_others_compare_their_kind_only():
    assert not copied_from_elsewhere(EntryFacts(FOLDER), EntryFacts(FOLDER), True, False)
    assert not copied_from_elsewhere(EntryFacts(OTHER), EntryFacts(OTHER), True, False)
    assert copied_from_elsewhere(EntryFacts(OTHER), F, True, False)


@pytest.mark.parametrize("words, times, links", [
    (("-aHAXS", "--delete", "--numeric-ids"), True, False), (("-rlp",), False, False),
    (("-a", "--no-times"), False, False), (("-a", "--no-t"), False, False),
    (("--no-times", "-a"), True, False), (("-rt",), True, False), (("--archive",), True, False),
    (("-aL",), True, True), (("--copy-unsafe-links", "-a"), True, True),
    (("-ak",), True, True), (("--copy-dirlinks",), False, True),
    (("--exclude=L", "-a"), True, False),
])
def test_what_the_options_keep_and_follow(words, times, links):
    assert (keeps_times(words), follows_symlinks(words)) == (times, links)


@pytest.mark.parametrize("pinned, copied, same", [
    (1_600_000_000_123_456_789, 1_600_000_000_123_456_789, True),
    (1_600_000_000_123_456_789, 1_600_000_000_000_000_000, True),    # whole seconds (ext3, small ext4 inodes)
    (1_600_000_000_123_456_789, 1_600_000_000_123_456_700, True),    # 100 ns (NTFS)
    (1_600_000_000_123_456_789, 1_600_000_001_000_000_000, False),   # later: changed while copied
    (1_600_000_000_123_456_789, 1_600_000_000_123_456_790, False),
    (1_600_000_000_123_456_789, 1_599_999_999_000_000_000, False),   # another second
])
def test_a_copy_time_cut_short_by_the_backup_disk_is_the_same_time(pinned, copied, same):
    from vhpi.decide.copy_check import same_time
    assert same_time(pinned, copied) is same
