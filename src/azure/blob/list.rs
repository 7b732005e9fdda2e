//! List Blobs: the paged request (following continuation markers) and the parsing of its XML
//! response, including names the service percent-encodes (`<Name Encoded="true">`).

use super::BlobContainer;
use azure_core::{
    error::{Error, ErrorKind},
    Result,
};
use reqwest::Method;
use serde::Deserialize;
use std::collections::HashMap;

/// One blob of a listing, with its properties and metadata as the service sent them.
#[derive(Debug, Clone)]
pub struct ListedBlob {
    pub name: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `Content-Length`: the blob's size in bytes.
    pub content_length: Option<u64>,
    metadata: HashMap<String, String>,
}

impl ListedBlob {
    /// A metadata value; keys compare case-insensitively, as the service treats them.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

impl BlobContainer {
    /// One page of List Blobs under `prefix`. With a `delimiter`, names that go on past it
    /// are rolled up into [`ListPage::prefixes`] (the "virtual directories").
    pub async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        include_metadata: bool,
        marker: Option<&str>,
    ) -> Result<ListPage> {
        let page_size = self.options.list_page_size.map(|n| n.to_string());
        let mut query = vec![
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", prefix),
        ];
        if let Some(d) = delimiter {
            query.push(("delimiter", d));
        }
        if include_metadata {
            query.push(("include", "metadata"));
        }
        if let Some(n) = page_size.as_deref() {
            query.push(("maxresults", n));
        }
        if let Some(m) = marker {
            query.push(("marker", m));
        }
        let resp = self
            .send(Method::GET, None, &query, Vec::new(), false)
            .await?;
        if resp.status != 200 {
            return Err(self.status_error("list blobs", None, &resp));
        }
        parse_list_blobs(&resp.body())
    }

    /// Every blob (and, with a `delimiter`, every prefix) under `prefix`, following
    /// continuation markers.
    pub async fn list_all(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        include_metadata: bool,
    ) -> Result<ListPage> {
        let mut all = ListPage::default();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .list_page(prefix, delimiter, include_metadata, marker.as_deref())
                .await?;
            all.blobs.extend(page.blobs);
            all.prefixes.extend(page.prefixes);
            match page.next_marker {
                Some(m) if !m.is_empty() => marker = Some(m),
                _ => break,
            }
        }
        Ok(all)
    }
}

/// One page (or, from [`BlobContainer::list_all`], all pages) of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// `BlobPrefix` names (ending in the delimiter), when a delimiter was given.
    pub prefixes: Vec<String>,
    pub next_marker: Option<String>,
}

#[derive(Deserialize)]
struct XmlEnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: XmlBlobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct XmlBlobs {
    #[serde(rename = "$value", default)]
    items: Vec<XmlItem>,
}

#[derive(Deserialize)]
enum XmlItem {
    Blob(XmlBlob),
    BlobPrefix(XmlPrefix),
}

#[derive(Deserialize)]
struct XmlPrefix {
    #[serde(rename = "Name")]
    name: XmlName,
}

#[derive(Deserialize)]
struct XmlBlob {
    #[serde(rename = "Name")]
    name: XmlName,
    #[serde(rename = "Properties", default)]
    properties: XmlProperties,
    #[serde(rename = "Metadata", default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct XmlName {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    value: String,
}

#[derive(Deserialize, Default)]
struct XmlProperties {
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Content-Length", default)]
    content_length: Option<u64>,
}

fn parse_list_blobs(body: &[u8]) -> Result<ListPage> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::with_error(
            ErrorKind::DataConversion,
            e,
            "blob storage: List Blobs response is not UTF-8",
        )
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let parsed: XmlEnumerationResults = quick_xml::de::from_str(text).map_err(|e| {
        Error::with_error(
            ErrorKind::DataConversion,
            e,
            "blob storage: cannot parse List Blobs response",
        )
    })?;
    let decode = |n: XmlName| {
        if n.encoded.as_deref() == Some("true") {
            percent_decode(&n.value)
        } else {
            n.value
        }
    };
    let mut blobs = Vec::new();
    let mut prefixes = Vec::new();
    for item in parsed.blobs.items {
        match item {
            XmlItem::Blob(b) => blobs.push(ListedBlob {
                name: decode(b.name),
                etag: b.properties.etag,
                last_modified: b.properties.last_modified,
                content_length: b.properties.content_length,
                metadata: b.metadata,
            }),
            XmlItem::BlobPrefix(p) => prefixes.push(decode(p.name)),
        }
    }
    Ok(ListPage {
        blobs,
        prefixes,
        next_marker: parsed.next_marker.filter(|m| !m.trim().is_empty()),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_list_blobs_page() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>ns/hub/$default/ownership/</Prefix>
  <MaxResults>5000</MaxResults>
  <Blobs>
    <Blob>
      <Name>ns/hub/$default/ownership/0</Name>
      <Properties>
        <Creation-Time>Tue, 01 Dec 2026 10:00:00 GMT</Creation-Time>
        <Last-Modified>Tue, 01 Dec 2026 10:00:01 GMT</Last-Modified>
        <Etag>0x8DC1234567890AB</Etag>
        <Content-Length>0</Content-Length>
        <BlobType>BlockBlob</BlobType>
      </Properties>
      <Metadata><ownerid>abc</ownerid></Metadata>
    </Blob>
    <Blob>
      <Name Encoded="true">ns/hub/$default/ownership/%31</Name>
      <Properties><Etag>"0x1"</Etag></Properties>
      <Metadata />
    </Blob>
    <BlobPrefix><Name>ns/hub/y=2026/</Name></BlobPrefix>
  </Blobs>
  <NextMarker>page2</NextMarker>
</EnumerationResults>"#;
        let page = parse_list_blobs(xml.as_bytes()).unwrap();
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(page.blobs[0].name, "ns/hub/$default/ownership/0");
        assert_eq!(page.blobs[0].meta("OwnerId"), Some("abc"));
        assert_eq!(page.blobs[0].etag.as_deref(), Some("0x8DC1234567890AB"));
        assert!(page.blobs[0].last_modified.is_some());
        assert_eq!(page.blobs[0].content_length, Some(0));
        assert_eq!(page.blobs[1].name, "ns/hub/$default/ownership/1");
        assert!(page.blobs[1].metadata.is_empty());
        assert_eq!(page.next_marker.as_deref(), Some("page2"));
        assert_eq!(page.prefixes, vec!["ns/hub/y=2026/".to_string()]);

        let empty = r#"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"#;
        let page = parse_list_blobs(empty.as_bytes()).unwrap();
        assert!(page.blobs.is_empty());
        assert!(page.next_marker.is_none());
    }
}
