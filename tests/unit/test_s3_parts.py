from pgdrill.store.s3 import MAX_PARTS, MIN_PART, part_size

TB = 1 << 40


def test_five_terabytes_fit_in_ten_thousand_parts() -> None:
    size = part_size(5 * TB)
    assert (5 * TB) / size < MAX_PARTS
    # the margin: even twice the estimate still fits
    assert (10 * TB) / size <= MAX_PARTS


def test_small_archives_use_the_minimum_part() -> None:
    assert part_size(10 << 20) == MIN_PART
    assert part_size(None) >= MIN_PART


def test_part_sizes_are_whole_mebibytes() -> None:
    for s in (1, 10**9, 3 * 10**11, 7 * TB):
        assert part_size(s) % (1 << 20) == 0
