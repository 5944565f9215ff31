//! Strict PEM: every block carries one of the expected labels, and only whitespace stands around
//! and between the blocks. A lenient reader let a certificate or CSR trail junk, and signed the
//! first of two concatenated CSRs.

use shedu_domain::DomainError;

/// The DER of each PEM block in `text`, in order; at least one.
pub fn blocks(text: &str, labels: &[&str], field: &str) -> Result<Vec<Vec<u8>>, DomainError> {
    Ok(labelled_blocks(text, labels, field)?.into_iter().map(|(_, der)| der).collect())
}

/// The one PEM block `text` holds, with its label (one of `labels`).
pub fn one_labelled_block(text: &str, labels: &[&str], field: &str) -> Result<(String, Vec<u8>), DomainError> {
    let mut found = labelled_blocks(text, labels, field)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(DomainError::invalid(field, format!("expected one PEM block, found {n}"))),
    }
}

fn labelled_blocks(text: &str, labels: &[&str], field: &str) -> Result<Vec<(String, Vec<u8>)>, DomainError> {
    let bad = |message: String| DomainError::invalid(field, message);
    let mut found = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(label_line) = rest.strip_prefix("-----BEGIN ") else {
            return Err(bad("text outside a PEM block".into()));
        };
        let label = label_line.split_once("-----").map(|(label, _)| label).unwrap_or_default();
        if !labels.contains(&label) {
            let shown = if label.len() <= 40 && label.chars().all(|c| c.is_ascii_uppercase() || c == ' ') {
                label
            } else {
                "an unknown label"
            };
            return Err(bad(format!("expected {}, found {shown}", labels.join(" or "))));
        }
        let end_marker = format!("-----END {label}-----");
        let end = rest.find(&end_marker).ok_or_else(|| bad(format!("the {label} block has no END line")))?;
        let block = &rest[..end + end_marker.len()];
        let parsed = pem::parse(block).map_err(|_| bad(format!("the {label} block is not valid base64")))?;
        // Headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info`) belong to legacy encrypted PEM.
        if parsed.headers().iter().next().is_some() {
            return Err(bad(format!("the {label} block has headers; send it unencrypted and without them")));
        }
        found.push((label.to_owned(), parsed.into_contents()));
        rest = rest[block.len()..].trim_start();
    }
    if found.is_empty() {
        return Err(bad("no PEM block found".into()));
    }
    Ok(found)
}

/// The DER of the one PEM block `text` holds.
pub fn one_block(text: &str, labels: &[&str], field: &str) -> Result<Vec<u8>, DomainError> {
    let mut found = blocks(text, labels, field)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(DomainError::invalid(field, format!("expected one {} block, found {n}", labels[0]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";

    #[test]
    fn whitespace_around_blocks_is_fine_anything_else_is_not() {
        assert_eq!(blocks(&format!("\n  {BLOCK}\n\n{BLOCK}  "), &["CERTIFICATE"], "chain").unwrap().len(), 2);
        assert_eq!(one_block(BLOCK, &["CERTIFICATE"], "certificate").unwrap(), vec![0, 1, 2]);
        for junk in [format!("{BLOCK}junk"), format!("junk{BLOCK}"), format!("{BLOCK}x{BLOCK}"), String::new()] {
            assert!(blocks(&junk, &["CERTIFICATE"], "certificate").is_err(), "{junk:?}");
        }
    }

    #[test]
    fn two_blocks_are_not_one_and_labels_must_match() {
        assert!(one_block(&format!("{BLOCK}{BLOCK}"), &["CERTIFICATE"], "certificate").is_err());
        let err = one_block(BLOCK, &["CERTIFICATE REQUEST"], "csr").unwrap_err().to_string();
        assert!(err.contains("found CERTIFICATE"), "{err}");
        assert!(one_block("-----BEGIN CERTIFICATE-----\nAAEC\n", &["CERTIFICATE"], "c").is_err(), "no END line");
        assert!(
            one_block("-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----", &["CERTIFICATE"], "c").is_err()
        );
    }
}
