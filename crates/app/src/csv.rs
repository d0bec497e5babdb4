//! CSV exports, shared by the JSON API and the pages: one record per line (RFC 4180 quoting,
//! spreadsheet formulas defused) and a streamed export fed from a database cursor.
//!
//! Knows nothing of HTTP: a front door wraps [`export`]'s stream in its response body with
//! its own headers.

use std::future::Future;

use futures_util::{Stream, StreamExt as _};

/// A piece of an export's body; an error cuts the body short.
pub type Chunk = Result<String, std::io::Error>;

/// One CSV record (RFC 4180 quoting), ending with a newline. A field that a spreadsheet
/// would read as a formula (starting with `=`, `+`, `-`, `@`) gets a leading `'`.
pub fn line(fields: &[&str]) -> String {
    let mut out = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let formula = field.starts_with(['=', '+', '-', '@']);
        let value = if formula { format!("'{field}") } else { (*field).to_owned() };
        if value.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&value.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&value);
        }
    }
    out.push('\n');
    out
}

/// An export's body: `header`, then what `produce` sends (usually through [`forward`]).
/// `produce` runs in its own task (owning the database stream) and waits while the reader
/// reads, through a small channel, so memory stays at a few rows whatever the export's size.
pub fn export<F, Fut>(header: String, produce: F) -> impl Stream<Item = Chunk> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Chunk>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(16);
    tokio::spawn(async move {
        if tx.send(Ok(header)).await.is_ok() {
            produce(tx).await;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Sends each row of `rows` as a CSV line made by `line`; stops when the reader is gone. A
/// database error mid-way is sent as an error, which cuts the body (the client sees an
/// incomplete transfer, never a silently short file).
pub async fn forward<T, S>(
    rows: S,
    tx: tokio::sync::mpsc::Sender<Chunk>,
    line: impl Fn(T) -> String,
) where
    S: Stream<Item = Result<T, wharf_db::sqlx::Error>>,
{
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.next().await {
        let chunk = match row {
            Ok(row) => Ok(line(row)),
            Err(err) => {
                tracing::warn!("CSV export failed mid-way: {err}");
                Err(std::io::Error::other("database error"))
            }
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(line(&["a", "b,c", "say \"hi\"", ""]), "a,\"b,c\",\"say \"\"hi\"\"\",\n");
        assert_eq!(line(&["=1+1", "-x", "ok"]), "'=1+1,'-x,ok\n");
        assert_eq!(
            line(&["+1", "@SUM(A1)", "=HYPERLINK(\"x\",\"y\")"]),
            "'+1,'@SUM(A1),\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\n"
        );
    }
}
