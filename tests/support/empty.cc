// Keeps lockfs_test_support non-empty before support code exists.
