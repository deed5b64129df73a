//! Reputation levels of a sender domain and the daily caps they allow (SES reference §9.2).

/// Daily cap of each level, index 0 = level 1.
const DAILY_CAPS: [u64; 20] = [
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000, 150_000, 200_000,
    300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 900_000, 1_000_000,
];

/// The highest level.
pub const MAX_LEVEL: u32 = 20;

/// Daily cap of `level`; level 0 (not verified yet) allows nothing.
pub fn daily_quota(level: u32) -> u64 {
    match level {
        0 => 0,
        l => DAILY_CAPS[(l.min(MAX_LEVEL) - 1) as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(daily_quota(0), 0);
        assert_eq!(daily_quota(1), 500);
        assert_eq!(daily_quota(10), 100_000);
        assert_eq!(daily_quota(20), 1_000_000);
        assert_eq!(daily_quota(99), 1_000_000);
    }
}
