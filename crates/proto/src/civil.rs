//! Epoch seconds to a UTC calendar date and time, without a time-zone
//! database: what the CLI prints and what `asctime` carries.

/// A UTC instant split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millis: i64,
}

impl Civil {
    /// `epoch` seconds (fractional), rounded to the millisecond.
    pub fn from_epoch(epoch: f64) -> Civil {
        let ms = (epoch * 1000.0).round() as i64;
        let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Civil {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millis: ms_of_day % 1000,
        }
    }

    /// `2018-04-18`
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `21:03:19`
    pub fn time(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

#[cfg(test)]
mod tests {
    use super::Civil;

    #[test]
    fn epochs_become_utc_dates_and_times() {
        let c = Civil::from_epoch(1524085399.148067);
        assert_eq!(
            (c.date(), c.time(), c.millis),
            ("2018-04-18".into(), "21:03:19".into(), 148)
        );
        assert_eq!(Civil::from_epoch(951_782_400.0).date(), "2000-02-29");
        assert_eq!(Civil::from_epoch(0.0).date(), "1970-01-01");
        assert_eq!(Civil::from_epoch(-1.0).date(), "1969-12-31");
    }
}
