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

/// One day of a domain's traffic, as the promotion rule reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayTraffic {
    /// Recipients accepted today.
    pub accepted: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Of those, bounced.
    pub bounced: u64,
}

/// The level a domain reaches with today's traffic (promotion applies at once, and may climb
/// several levels in one day): while it has sent at least 70% of its level's cap and more
/// than 92% of what finished was delivered, it goes up one level. Demotion (the next day,
/// on high bounce or complaint rates) is not decided here.
pub fn promoted_level(level: u32, traffic: DayTraffic) -> u32 {
    let mut level = level.max(1);
    let finished = traffic.delivered + traffic.bounced;
    if finished == 0 {
        return level;
    }
    let deliverability = traffic.delivered as f64 / finished as f64;
    while level < MAX_LEVEL
        && deliverability > 0.92
        && traffic.accepted * 10 >= daily_quota(level) * 7
    {
        level += 1;
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(level: u32, accepted: u64, delivered: u64, bounced: u64, expected: u32) {
        let traffic = DayTraffic {
            accepted,
            delivered,
            bounced,
        };
        assert_eq!(
            promoted_level(level, traffic),
            expected,
            "{traffic:?} at level {level}"
        );
    }

    #[test]
    fn promotion() {
        check(1, 349, 349, 0, 1);
        check(1, 350, 300, 0, 2);
        check(1, 700, 700, 0, 3);
        check(1, 350, 90, 10, 1);
        check(1, 350, 0, 0, 1);
        check(19, 2_000_000, 2_000_000, 0, 20);
    }

    #[test]
    fn caps() {
        assert_eq!(daily_quota(0), 0);
        assert_eq!(daily_quota(1), 500);
        assert_eq!(daily_quota(10), 100_000);
        assert_eq!(daily_quota(20), 1_000_000);
        assert_eq!(daily_quota(99), 1_000_000);
    }
}
