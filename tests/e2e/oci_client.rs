//! The Rust OCI client (`oci-client`) pushes an image to Wharf with a vendor token and pulls
//! it back byte for byte, through the token service like any client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol, Config, ImageLayer},
    manifest::{IMAGE_CONFIG_MEDIA_TYPE, IMAGE_LAYER_GZIP_MEDIA_TYPE},
    secrets::RegistryAuth,
};
use wharf_e2e::{scratch_dir, wharf_with_vendor_token};

#[tokio::test]
async fn oci_client_pushes_and_pulls_byte_for_byte() {
    let scratch = scratch_dir();
    let (wharf, token) =
        wharf_with_vendor_token(&scratch.path().join("data"), Default::default()).await;

    let host = wharf.url.trim_start_matches("http://");
    let reference: Reference = format!("{host}/vendor/oci-client:1.0").parse().unwrap();
    let client = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    let auth = RegistryAuth::Basic("ci".into(), token);

    let layer: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let layers = vec![ImageLayer::new(layer.clone(), IMAGE_LAYER_GZIP_MEDIA_TYPE.to_owned(), None)];
    let config = Config::new(
        br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        IMAGE_CONFIG_MEDIA_TYPE.to_owned(),
        None,
    );
    let pushed = client.push(&reference, &layers, config, &auth, None).await.expect("push");
    assert!(
        pushed.manifest_url.contains("/v2/vendor/oci-client/manifests/"),
        "{}",
        pushed.manifest_url
    );

    let fresh = Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    let pulled =
        fresh.pull(&reference, &auth, vec![IMAGE_LAYER_GZIP_MEDIA_TYPE]).await.expect("pull");
    assert_eq!(pulled.layers.len(), 1);
    assert!(pulled.layers[0].data.as_ref() == layer.as_slice(), "layer bytes round-trip");
    assert_eq!(pulled.config.data.as_ref(), br#"{"architecture":"amd64","os":"linux"}"#);
    let digest = pulled.digest.expect("manifest digest");
    let by_digest: Reference = format!("{host}/vendor/oci-client@{digest}").parse().unwrap();
    let again = fresh
        .pull(&by_digest, &auth, vec![IMAGE_LAYER_GZIP_MEDIA_TYPE])
        .await
        .expect("pull by digest");
    assert_eq!(again.digest.as_deref(), Some(digest.as_str()));

    let wrong = RegistryAuth::Basic("ci".into(), "wharf_vnd_wrong".into());
    let refused =
        Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    assert!(refused.pull(&reference, &wrong, vec![IMAGE_LAYER_GZIP_MEDIA_TYPE]).await.is_err());
}
