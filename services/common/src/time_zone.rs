//! The time zone names the platform accepts: the user service checks a
//! user's `timeZone` against them, and the edge lists them in its OpenAPI
//! document, so both read this one list.

/// Every IANA time zone name of the bundled tz database, in its canonical
/// spelling, except "Factory": the database's placeholder for "unset", not
/// a place anyone lives.
pub fn names() -> impl Iterator<Item = &'static str> {
    tzdb_data::TZ_NAMES
        .iter()
        .copied()
        .filter(|name| *name != "Factory")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_holds_real_zones_and_no_placeholder() {
        let names: Vec<&str> = super::names().collect();
        for zone in ["UTC", "Europe/Berlin", "America/New_York"] {
            assert!(names.contains(&zone), "{zone}");
        }
        assert!(!names.contains(&"Factory"));
    }
}
