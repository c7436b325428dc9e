"""vhpi.act.dedup_listing: only inodes with a twin in size and metadata are candidates, every
one exactly once, largest first, read a page at a time."""

from vhpi.act import dedup_listing


def test_candidates_come_page_by_page_each_once_largest_first(tmp_path, monkeypatch):
    listing = dedup_listing.new_listing(str(tmp_path))
    rows = [(ino, 4096 + ino % 7, 0o100644, 0, 0, 5, 0, 1, 8192, 1) for ino in range(1, 2501)]
    rows.append((99999, 123456, 0o100644, 0, 0, 5, 0, 1, 8192, 1))          # no twin
    rows.append((99998, 4096 + 99997 % 7, 0o100600, 0, 0, 5, 0, 1, 8192, 1))  # another mode
    listing.executemany("INSERT INTO inodes (ino, size, mode, uid, gid, mtime_ns, ctime_ns, "
                        "links, blocks, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    dedup_listing.finish_listing(listing)
    monkeypatch.setattr(dedup_listing, "PAGE", 300)
    found = list(dedup_listing.candidates(listing))
    assert sorted(ino for ino, _, _ in found) == list(range(1, 2501))
    sizes = [size for _, size, _ in found]
    assert sizes == sorted(sizes, reverse=True)
    listing.close()
    dedup_listing.remove_listing(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
