"""Every option rule through Python keywords (issue 10, item 7): a bad value is a
ConfigError naming the option, raised by lsm.open before anything opens. The full
table of rules is tests/config_rules.rs; the keywords go through the same
Config::set and Config::validate."""

from __future__ import annotations

from pathlib import Path

import pytest

import lsm

BAD_VALUES: list[tuple[str, int | str]] = [
    ("wal_version", 2),
    ("wal_sync", "0ms"),
    ("wal_recovery", "maybe"),
    ("memtable_max_entries", 0),
    ("memtable_max_bytes", 0),
    ("memtable_max_immutable", 0),
    ("memtable_total_bytes", -1),
    ("directory_wal", ""),
    ("directory_ss_table", ""),
    ("directory_cache", ""),
    ("cache_block_cache_bytes", -1),
    ("cache_key_cache_entries", -1),
    ("cache_persist_on_close", "maybe"),
    ("cache_key_cache_bytes", -1),
    ("cache_max_open_files", 0),
    ("cache_max_open_files", -2),
    ("cache_pin_l0_index_and_filter", "maybe"),
    ("sstable_block_size", 0),
    ("sstable_block_size", 255),
    ("sstable_bloom_bits_per_key", 65),
    ("sstable_compression", "gzip"),
    ("sstable_compression_from_level", 65),
    ("sstable_metadata_block_size", 255),
    ("compaction_level0_file_trigger", 0),
    ("compaction_level0_slowdown_files", 0),
    ("compaction_level0_stop_files", 0),
    ("compaction_level_fanout", 1),
    ("compaction_base_level_bytes", 0),
    ("compaction_target_file_bytes", 0),
    ("compaction_max_levels", 1),  # L0 would never be compacted: writes would stall
    ("compaction_max_levels", 17),
    ("compaction_pending_bytes_slowdown", 0),
    ("compaction_pending_bytes_stop", 0),
    ("compaction_background_threads", 0),
    ("compaction_background_threads", 257),
    ("compaction_max_subcompactions", 0),
    ("compaction_max_subcompactions", 65),
    ("compaction_delayed_write_rate", 0),
]


@pytest.mark.parametrize(("option", "value"), BAD_VALUES)
def test_a_bad_value_is_a_config_error_naming_it(
    path: Path, option: str, value: int | str
) -> None:
    with pytest.raises(lsm.ConfigError, match=option):
        lsm.open(path, **{option: value})  # type: ignore[arg-type]
    assert not path.exists()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (
            {"compaction_level0_file_trigger": 8, "compaction_level0_slowdown_files": 4},
            "compaction.level0_slowdown_files",
        ),
        (
            {"compaction_level0_slowdown_files": 8, "compaction_level0_stop_files": 4},
            "compaction.level0_stop_files",
        ),
        (
            {"compaction_pending_bytes_slowdown": 8, "compaction_pending_bytes_stop": 4},
            "compaction.pending_bytes_stop",
        ),
    ],
)
def test_options_that_do_not_fit_together(
    path: Path, options: dict[str, int], key: str
) -> None:
    with pytest.raises(lsm.ConfigError, match=key):
        lsm.open(path, **options)  # type: ignore[arg-type]
