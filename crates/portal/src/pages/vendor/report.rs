//! What the dashboard, analytics and audit log pages share: the report filters read from a
//! GET query string (a period of the last N days or from/to dates, checked into a time
//! range, with a message beside the field for bad input), the pulls-per-day bar chart drawn
//! as server-side SVG (no chart script), readable byte counts and CSV attachments.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::Stream;
use time::{Date, Duration, OffsetDateTime, Time, macros::format_description};

use crate::shell::Field;

/// A query string as pairs (a string that is not form encoding reads as no filter).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default()
}

/// The value of `key` in `pairs`, trimmed (`""` when absent).
pub(crate) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.trim())
}

/// A choice in a `<select>`.
pub(crate) struct Choice {
    /// The value sent.
    pub value: String,
    /// What it says.
    pub label: String,
}

impl Choice {
    pub(crate) fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Choice { value: value.into(), label: label.into() }
    }
}

/// The period fields of a report's filter form, as typed, with their errors.
pub(crate) struct PeriodForm {
    /// The chosen period: a number of days, `all` or `custom`.
    pub period: String,
    /// Its error.
    pub period_error: Option<String>,
    /// The first day (`YYYY-MM-DD`), for `custom`.
    pub from: Field,
    /// The last day (included), for `custom`.
    pub to: Field,
    /// The periods offered.
    pub choices: Vec<Choice>,
}

/// The time range a valid period selects: `[since, until)`, either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// From (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Before (exclusive).
    pub until: Option<OffsetDateTime>,
}

impl Range {
    /// The UTC days the range covers, oldest first (a closed range only).
    pub(crate) fn days(&self) -> Vec<Date> {
        let (Some(since), Some(until)) = (self.since, self.until) else { return Vec::new() };
        let mut days = Vec::new();
        let mut day = since.date();
        while midnight(day) < until && days.len() < 400 {
            days.push(day);
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        days
    }
}

/// The start of `day`, UTC.
pub(crate) fn midnight(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// `YYYY-MM-DD`.
pub(crate) fn day_text(day: Date) -> String {
    day.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

fn parse_day(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// The longest custom period a report covers, in days.
pub(crate) const MAX_DAYS: i64 = 366;

impl PeriodForm {
    /// Reads `period`, `from` and `to` from `pairs`. `periods` are the whole-day periods
    /// offered (days; 0 means all time); `default` is the one taken when none is given.
    /// Dates without a period mean `custom`. The last `n` days are today and the `n − 1`
    /// before it (UTC); a custom period runs from the start of `from` to the end of `to`.
    /// Returns the form as typed and, when it is valid, its range.
    pub(crate) fn read(
        pairs: &[(String, String)],
        periods: &[i64],
        default: i64,
        now: OffsetDateTime,
    ) -> (Self, Option<Range>) {
        let mut choices: Vec<Choice> = periods
            .iter()
            .map(|&days| match days {
                0 => Choice::new("all", "All time"),
                1 => Choice::new("1", "Today"),
                n => Choice::new(n.to_string(), format!("Last {n} days")),
            })
            .collect();
        choices.push(Choice::new("custom", "From … to …"));
        let (from, to) = (param(pairs, "from"), param(pairs, "to"));
        let mut period = param(pairs, "period").to_owned();
        if period.is_empty() {
            period = if from.is_empty() && to.is_empty() {
                if default == 0 { "all".to_owned() } else { default.to_string() }
            } else {
                "custom".to_owned()
            };
        }
        let mut form = PeriodForm {
            period: period.clone(),
            period_error: None,
            from: Field::with(from),
            to: Field::with(to),
            choices,
        };
        let today = now.date();
        if period != "custom" {
            // Dates belong to a custom period only; do not show them as if they applied.
            form.from = Field::default();
            form.to = Field::default();
            let days = if period == "all" { Some(0) } else { period.parse::<i64>().ok() };
            return match days.filter(|d| periods.contains(d)) {
                Some(0) => (form, Some(Range { since: None, until: None })),
                Some(days) => {
                    let first = today - Duration::days(days - 1);
                    (form, Some(Range { since: Some(midnight(first)), until: None }))
                }
                None => {
                    form.period_error = Some("choose one of the periods".into());
                    (form, None)
                }
            };
        }
        let first = match from {
            "" => {
                form.from.fail("give the first day (2026-01-31)");
                None
            }
            text => parse_day(text).or_else(|| {
                form.from.fail("not a date: write it as 2026-01-31");
                None
            }),
        };
        let last = match to {
            "" => {
                form.to.fail("give the last day (2026-01-31)");
                None
            }
            text => parse_day(text).or_else(|| {
                form.to.fail("not a date: write it as 2026-01-31");
                None
            }),
        };
        let (Some(first), Some(last)) = (first, last) else { return (form, None) };
        if last < first {
            form.to.fail("the last day comes before the first");
            return (form, None);
        }
        if (last - first).whole_days() >= MAX_DAYS {
            form.to.fail(format!("a period covers at most {MAX_DAYS} days"));
            return (form, None);
        }
        let until = last.next_day().map(midnight);
        (form, Some(Range { since: Some(midnight(first)), until }))
    }

    /// Whether the custom dates apply (the date fields are shown filled in).
    pub(crate) fn is_custom(&self) -> bool {
        self.period == "custom"
    }

    /// The period in words, for headings and the chart's summary.
    pub(crate) fn describe(&self) -> String {
        if self.is_custom() {
            return format!("{} to {}", self.from.value, self.to.value);
        }
        self.choices
            .iter()
            .find(|c| c.value == self.period)
            .map_or_else(String::new, |c| c.label.to_lowercase())
    }

    /// The period as a phrase after a number of pulls: `in the last 30 days`, `of all
    /// time`, `from 2026-01-01 to 2026-01-31`.
    pub(crate) fn during(&self) -> String {
        match self.period.as_str() {
            "custom" => format!("from {} to {}", self.from.value, self.to.value),
            "all" => "of all time".to_owned(),
            "1" => "today".to_owned(),
            _ => format!("in the {}", self.describe()),
        }
    }

    /// The period's part of a query string (`period=30`, or `period=custom&from=…&to=…`).
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("period", self.period.clone())];
        if self.is_custom() {
            q.push(("from", self.from.value.clone()));
            q.push(("to", self.to.value.clone()));
        }
        q
    }
}

/// `pairs` as a query string (`?a=b&c=d`, or `""`), leaving out empty values.
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str())).collect();
    if kept.is_empty() {
        return String::new();
    }
    format!("?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// A bar of the pulls chart.
pub(crate) struct Bar {
    /// Left edge, in the chart's coordinates.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub width: String,
    /// Height.
    pub height: String,
    /// The day.
    pub day: String,
    /// Its pulls.
    pub pulls: i64,
}

/// The pulls-per-day chart: an SVG drawn on the server, with its summary for assistive
/// technology (the figures are also in a table on the page).
pub(crate) struct Chart {
    /// The bars, oldest day first.
    pub bars: Vec<Bar>,
    /// The highest day's pulls (the scale's top).
    pub max: i64,
    /// Total pulls.
    pub total: i64,
    /// The first day and the last.
    pub first: String,
    /// The last day.
    pub last: String,
    /// A sentence saying what the chart shows.
    pub summary: String,
}

/// The chart's drawing area (`viewBox="0 0 600 114"` in `vendor/report.html`): bars from
/// the scale's line (`CHART_TOP`) down to the axis (`CHART_BOTTOM`); the labels are HTML
/// around it, so they keep their size on a phone.
pub(crate) const CHART_WIDTH: f64 = 600.0;
const CHART_TOP: f64 = 2.0;
const CHART_BOTTOM: f64 = 112.0;

impl Chart {
    /// The chart of `days` (each with its pulls, oldest first), described as `period`.
    pub(crate) fn of(days: &[(String, i64)], period: &str) -> Self {
        let max = days.iter().map(|d| d.1).max().unwrap_or(0);
        let total: i64 = days.iter().map(|d| d.1).sum();
        let slot = CHART_WIDTH / days.len().max(1) as f64;
        let height = CHART_BOTTOM - CHART_TOP;
        let bars = days
            .iter()
            .enumerate()
            .map(|(i, (day, pulls))| {
                let h = if max == 0 { 0.0 } else { height * (*pulls as f64) / (max as f64) };
                // A day with pulls is never drawn thinner than a line.
                let h = if *pulls > 0 { h.max(1.5) } else { 0.0 };
                Bar {
                    x: format!("{:.1}", i as f64 * slot + slot * 0.1),
                    y: format!("{:.1}", CHART_BOTTOM - h),
                    width: format!("{:.1}", slot * 0.8),
                    height: format!("{h:.1}"),
                    day: day.clone(),
                    pulls: *pulls,
                }
            })
            .collect();
        let busiest = days.iter().max_by_key(|d| d.1).filter(|d| d.1 > 0);
        let summary = match busiest {
            None => format!("No pulls {period}."),
            Some((day, pulls)) => format!(
                "{total} pull{} {period}; the busiest day was {day} with {pulls}.",
                if total == 1 { "" } else { "s" }
            ),
        };
        Chart {
            bars,
            max,
            total,
            first: days.first().map(|d| d.0.clone()).unwrap_or_default(),
            last: days.last().map(|d| d.0.clone()).unwrap_or_default(),
            summary,
        }
    }
}

/// `bytes` for people: `1.4 GiB`.
pub(crate) fn bytes_text(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A `text/csv` attachment named `filename` with `body`.
pub(crate) fn csv_attachment<S>(filename: &str, body: S) -> Response
where
    S: Stream<Item = wharf_app::csv::Chunk> + Send + 'static,
{
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    const NOW: OffsetDateTime = datetime!(2026-12-06 17:00 UTC);

    #[test]
    fn periods_are_whole_utc_days() {
        let (form, range) = PeriodForm::read(&pairs(""), &[7, 30, 90], 30, NOW);
        assert_eq!(form.period, "30");
        let range = range.unwrap();
        assert_eq!(range.since, Some(datetime!(2026-11-07 0:00 UTC)));
        assert_eq!(range.until, None);
        let (_, range) = PeriodForm::read(&pairs("from=2026-11-01&to=2026-11-30"), &[7], 7, NOW);
        let range = range.unwrap();
        assert_eq!(range.since, Some(datetime!(2026-11-01 0:00 UTC)));
        assert_eq!(range.until, Some(datetime!(2026-12-01 0:00 UTC)));
        assert_eq!(range.days().len(), 30);
        let (form, range) = PeriodForm::read(&pairs("period=all"), &[0, 7], 0, NOW);
        assert_eq!(range, Some(Range { since: None, until: None }));
        assert_eq!(form.describe(), "all time");
    }

    #[test]
    fn bad_periods_say_what_is_wrong_beside_the_field() {
        let bad = |q: &str| {
            let (form, range) = PeriodForm::read(&pairs(q), &[7, 30, 90], 30, NOW);
            assert!(range.is_none(), "{q}");
            (form.period_error, form.from.error, form.to.error)
        };
        assert!(bad("period=365").0.is_some());
        assert!(bad("period=custom&from=yesterday&to=2026-01-01").1.is_some());
        assert!(bad("from=2026-02-30&to=2026-03-01").1.is_some());
        assert!(bad("from=2026-03-01&to=2026-02-01").2.is_some());
        assert!(bad("from=2020-01-01&to=2026-01-01").2.is_some());
        assert!(bad("period=custom&from=2026-01-01").2.is_some());
    }

    #[test]
    fn the_chart_scales_to_the_busiest_day_and_says_so() {
        let days = vec![
            ("2026-12-01".to_owned(), 0),
            ("2026-12-02".to_owned(), 10),
            ("2026-12-03".to_owned(), 5),
        ];
        let chart = Chart::of(&days, "in the last 3 days");
        assert_eq!(chart.total, 15);
        assert_eq!(chart.bars[1].height, "110.0");
        assert_eq!(chart.bars[2].height, "55.0");
        assert_eq!(chart.bars[0].height, "0.0");
        assert!(chart.summary.contains("busiest day was 2026-12-02 with 10"), "{}", chart.summary);
        assert_eq!(Chart::of(&[], "today").summary, "No pulls today.");
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(bytes_text(512), "512 bytes");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn query_strings_leave_out_empty_values() {
        assert_eq!(query_string(&[("a", "1".into()), ("b", String::new())]), "?a=1");
        assert_eq!(query_string(&[("b", String::new())]), "");
        assert_eq!(query_string(&[("q", "a b&c".into())]), "?q=a+b%26c");
    }
}
