//! Handshake line, negotiation and environment tests.

use proptest::prelude::*;

use super::*;

/// The line a real go-plugin 1.0.1 plugin printed on this machine (host offered 1,2,3; the
/// plugin speaks 1,2).
const CAPTURED: &str = "1|2|unix|/tmp/plugin123|grpc|\n";

/// A self-signed ECDSA P-521 certificate for `localhost`, as go-plugin's AutoMTLS makes,
/// encoded as go-plugin prints it: unpadded standard base64 of the DER (583 bytes, so the
/// padded form would end in `==`).
const CERT_B64: &str = "MIICQzCCAaSgAwIBAgIUPGg9kRTcjwQ/i/IcjFp6lyTIiogwCgYIKoZIzj0EAwIwKDESMBAGA1UECgwJSGFzaGlDb3JwMRIwEAYDVQQDDAlsb2NhbGhvc3QwHhcNMjYxMTIyMDIwODEyWhcNMjYxMjIyMDIwODEyWjAoMRIwEAYDVQQKDAlIYXNoaUNvcnAxEjAQBgNVBAMMCWxvY2FsaG9zdDCBmzAQBgcqhkjOPQIBBgUrgQQAIwOBhgAEAFn25Pye/QmLpJDUyBgTKnJQAlFzu36+GgQhl5MoXz25s6LUz+zoWzd1Sn5LyHqDaHQpEZvQdoyG+DUwqHAIK+xlACdijapzf9vSuJ6EFm6PeMGOT4gXsQkgOo1ylOr2qegxko1PqpyarBjMNWKO0POOc9fylSZV2Viy/I2jflLFEtK4o2kwZzAdBgNVHQ4EFgQUBL656+bcDBWx4sIwDa81ggTMZfQwHwYDVR0jBBgwFoAUBL656+bcDBWx4sIwDa81ggTMZfQwDwYDVR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwIDgYwAMIGIAkIBwCbAtwq0WAAtKmUL1TfsX212I5fZyuWs1uTv9UPPbfv2lzCPWvooJXj7S0TPpXHxZsl2OQ5c8QeELgRMP5VsWlYCQgFdM49Eu+LShElNPeNTgTut/VfqLuPFaGtkr7YMJ2fz7IbyoCRJmBELFlJiINtFM8kub8MS4zylSot052j9CcDqTQ";

fn err(line: &str) -> HandshakeError {
    Handshake::parse(line).expect_err(line)
}

#[test]
fn the_captured_go_plugin_line() {
    let h = Handshake::parse(CAPTURED).unwrap();
    assert_eq!(
        h,
        Handshake {
            core_version: 1,
            app_version: 2,
            network: Network::Unix,
            address: "/tmp/plugin123".into(),
            protocol: Protocol::Grpc,
            server_cert: None,
            multiplex: None,
        }
    );
    assert_eq!(h.format(), CAPTURED);
    assert_eq!(h.to_string(), CAPTURED.trim_end());
    assert_eq!(negotiate(&[1, 2, 3], h.app_version), Ok(2));
}

#[test]
fn a_line_with_a_real_autotls_certificate() {
    let line = format!("1|1|unix|/tmp/plugin99|grpc|{CERT_B64}\r\n");
    let h = Handshake::parse(&line).unwrap();
    let der = h.server_cert.as_deref().unwrap();
    assert_eq!(der.len(), 583);
    assert_eq!(&der[..4], &[0x30, 0x82, 0x02, 0x43]);
    // Printed back exactly as go-plugin prints it: unpadded.
    assert_eq!(
        h.format(),
        format!("1|1|unix|/tmp/plugin99|grpc|{CERT_B64}\n")
    );
    // The padded form is accepted too.
    let padded = Handshake::parse(&format!("1|1|unix|/tmp/plugin99|grpc|{CERT_B64}==")).unwrap();
    assert_eq!(padded, h);
}

#[test]
fn four_five_six_and_seven_field_forms() {
    // Four fields: go-plugin reads the missing protocol as net/rpc, which Plugboard refuses.
    let four = err("1|1|unix|/tmp/p");
    assert!(matches!(
        four,
        HandshakeError::NetRpcNotSupported {
            protocol_missing: true,
            ..
        }
    ));
    assert!(four.to_string().contains("no fifth field"), "{four}");

    let five = Handshake::parse("1|1|tcp|127.0.0.1:1234|grpc").unwrap();
    assert_eq!(
        (five.network, five.server_cert.clone()),
        (Network::Tcp, None)
    );
    // Formatting adds the empty sixth field, as a Go plugin prints it.
    assert_eq!(five.to_string(), "1|1|tcp|127.0.0.1:1234|grpc|");

    let six = Handshake::parse("1|1|unix|/p|grpc|").unwrap();
    assert_eq!(six, five_with_unix("/p"));

    let seven = Handshake::parse("1|1|unix|/p|grpc||true\n").unwrap();
    assert_eq!(seven.multiplex, Some(true));
    assert_eq!(seven.to_string(), "1|1|unix|/p|grpc||true");
    let seven_cert = Handshake::parse(&format!("1|1|unix|/p|grpc|{CERT_B64}|false")).unwrap();
    assert_eq!(
        (seven_cert.multiplex, seven_cert.server_cert.is_some()),
        (Some(false), true)
    );
    // Go's strconv.ParseBool spellings.
    for (field, value) in [
        ("1", true),
        ("T", true),
        ("True", true),
        ("0", false),
        ("F", false),
    ] {
        let h = Handshake::parse(&format!("1|1|unix|/p|grpc||{field}")).unwrap();
        assert_eq!(h.multiplex, Some(value), "{field}");
    }
    // An empty seventh field says nothing.
    assert_eq!(
        Handshake::parse("1|1|unix|/p|grpc||").unwrap().multiplex,
        None
    );

    // Fields after the seventh are ignored, as go-plugin ignores them.
    let eight = Handshake::parse("1|1|unix|/p|grpc||true|future").unwrap();
    assert_eq!(eight.multiplex, Some(true));
}

fn five_with_unix(path: &str) -> Handshake {
    Handshake::grpc(1, Network::Unix, path)
}

#[test]
fn short_sixth_fields_are_ignored_as_go_plugin_ignores_them() {
    let fifty = "x".repeat(SERVER_CERT_MIN_LEN);
    let h = Handshake::parse(&format!("1|1|unix|/p|grpc|{fifty}")).unwrap();
    assert_eq!(h.server_cert, None);
    let fifty_one = "x".repeat(SERVER_CERT_MIN_LEN + 1);
    assert!(matches!(
        err(&format!("1|1|unix|/p|grpc|{fifty_one}")),
        HandshakeError::InvalidServerCert { .. }
    ));
}

#[test]
fn every_field_error_names_its_field_and_quotes_the_line() {
    type Check = fn(&HandshakeError) -> bool;
    let cases: Vec<(&str, &str, Check)> = vec![
        ("", "was empty", |e| {
            matches!(e, HandshakeError::Empty { .. })
        }),
        ("\r\n", "was empty", |e| {
            matches!(e, HandshakeError::Empty { .. })
        }),
        (
            "Starting plugin v1.2...",
            "not a go-plugin handshake",
            |e| matches!(e, HandshakeError::NotAHandshake { fields: 1, .. }),
        ),
        ("1|2|unix", "found 3 field(s)", |e| {
            matches!(e, HandshakeError::NotAHandshake { fields: 3, .. })
        }),
        ("one|2|unix|/p|grpc|", "first field", |e| {
            matches!(e, HandshakeError::InvalidCoreVersion { .. })
        }),
        ("-1|2|unix|/p|grpc|", "first field", |e| {
            matches!(e, HandshakeError::InvalidCoreVersion { .. })
        }),
        ("99999999999|2|unix|/p|grpc|", "first field", |e| {
            matches!(e, HandshakeError::InvalidCoreVersion { .. })
        }),
        ("2|2|unix|/p|grpc|", "core protocol version is 2", |e| {
            matches!(e, HandshakeError::UnsupportedCoreVersion { found: 2, .. })
        }),
        ("1|v2|unix|/p|grpc|", "second field", |e| {
            matches!(e, HandshakeError::InvalidAppVersion { .. })
        }),
        ("1||unix|/p|grpc|", "second field", |e| {
            matches!(e, HandshakeError::InvalidAppVersion { .. })
        }),
        ("1|2|udp|/p|grpc|", "expected `unix` or `tcp`", |e| {
            matches!(e, HandshakeError::UnknownNetwork { .. })
        }),
        ("1|2|UNIX|/p|grpc|", "third field", |e| {
            matches!(e, HandshakeError::UnknownNetwork { .. })
        }),
        ("1|2|unix||grpc|", "Unix socket path", |e| {
            matches!(e, HandshakeError::EmptyAddress { .. })
        }),
        ("1|2|tcp||grpc|", "TCP `host:port`", |e| {
            matches!(e, HandshakeError::EmptyAddress { .. })
        }),
        ("1|2|tcp|localhost|grpc|", "no `:port`", |e| {
            matches!(e, HandshakeError::InvalidAddress { .. })
        }),
        ("1|2|tcp|127.0.0.1:0|grpc|", "1 to 65535", |e| {
            matches!(e, HandshakeError::InvalidAddress { .. })
        }),
        ("1|2|tcp|127.0.0.1:http|grpc|", "1 to 65535", |e| {
            matches!(e, HandshakeError::InvalidAddress { .. })
        }),
        ("1|2|unix|/tmp/a\u{1b}b|grpc|", "control character", |e| {
            matches!(e, HandshakeError::InvalidAddress { .. })
        }),
        (
            "1|2|unix|/p|netrpc|",
            "rebuild the plugin with plugin.ProtocolGRPC",
            |e| {
                matches!(
                    e,
                    HandshakeError::NetRpcNotSupported {
                        protocol_missing: false,
                        ..
                    }
                )
            },
        ),
        ("1|2|unix|/p|GRPC|", "fifth field", |e| {
            matches!(e, HandshakeError::UnknownProtocol { .. })
        }),
        ("1|2|unix|/p||", "fifth field", |e| {
            matches!(e, HandshakeError::UnknownProtocol { .. })
        }),
        ("1|2|unix|/p|grpc||yes", "seventh field", |e| {
            matches!(e, HandshakeError::InvalidMultiplex { .. })
        }),
    ];
    for (line, needle, is_expected) in cases {
        let error = err(line);
        let message = error.to_string();
        assert!(is_expected(&error), "{line:?}: {error:?}");
        assert!(message.contains(needle), "{line:?}: {message}");
        assert!(
            message.contains(&format!("the line was: {:?}", line)),
            "{line:?}: {message}"
        );
    }
}

#[test]
fn certificate_errors_say_why() {
    let not_base64 = err(&format!("1|1|unix|/p|grpc|{}", "!".repeat(60)));
    assert!(
        not_base64.to_string().contains("not base64"),
        "{not_base64}"
    );
    let not_der = err(&format!("1|1|unix|/p|grpc|{}", "A".repeat(60)));
    assert!(
        not_der.to_string().contains("not a DER certificate"),
        "{not_der}"
    );
    let cut = err(&format!("1|1|unix|/p|grpc|{}", &CERT_B64[..400]));
    assert!(cut.to_string().contains("may have been cut"), "{cut}");
    let bad_length = err(&format!("1|1|unix|/p|grpc|{}", &CERT_B64[..401]));
    assert!(
        bad_length.to_string().contains("not base64"),
        "{bad_length}"
    );
}

#[test]
fn long_garbage_is_quoted_short_and_escaped() {
    let line = format!("\u{1b}[31mERROR{}", "x".repeat(1000));
    let message = err(&line).to_string();
    assert!(message.contains("\\u{1b}[31mERROR"), "{message}");
    assert!(message.contains("more characters)"), "{message}");
    assert!(message.len() < 900, "{}", message.len());
}

#[test]
fn negotiation_lists_both_sides() {
    assert_eq!(negotiate(&[3, 4], 4), Ok(4));
    let error = negotiate(&[3, 4], 1).unwrap_err();
    assert_eq!(
        error,
        HandshakeError::VersionNotOffered {
            plugin: 1,
            offered: vec![3, 4]
        }
    );
    let message = error.to_string();
    assert!(message.contains("version 1"), "{message}");
    assert!(message.contains("offered only 3, 4"), "{message}");
    assert!(negotiate(&[], 1)
        .unwrap_err()
        .to_string()
        .contains("no version at all"));
}

#[test]
fn plugin_side_version_choice_mirrors_go_plugin() {
    assert_eq!(choose_version(&[1, 2, 3], &[1, 2]), Some(2));
    assert_eq!(choose_version(&[5], &[2, 1]), Some(1));
    assert_eq!(choose_version(&[], &[3, 4]), Some(3));
    assert_eq!(choose_version(&[1], &[]), None);
    assert_eq!(parse_protocol_versions("1,2, 3,x,"), vec![1, 2, 3]);
    assert_eq!(parse_protocol_versions(""), Vec::<u32>::new());
}

#[test]
fn the_environment_a_host_gives_its_plugin() {
    let env = HandshakeEnv::builder("BASIC_PLUGIN", "hello")
        .build()
        .unwrap();
    assert_eq!(
        plugin_env(&env),
        vec![
            ("BASIC_PLUGIN".to_owned(), "hello".to_owned()),
            ("PLUGIN_MIN_PORT".to_owned(), "10000".to_owned()),
            ("PLUGIN_MAX_PORT".to_owned(), "25000".to_owned()),
            ("PLUGIN_PROTOCOL_VERSIONS".to_owned(), "1".to_owned()),
        ]
    );
    let env = HandshakeEnv::builder("K", "V")
        .protocol_versions([1, 2, 3])
        .port_range(20000, 20010)
        .client_cert_pem("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        .unix_socket_dir("/run/plugboard")
        .unix_socket_group("plugins")
        .multiplex_grpc(true)
        .build()
        .unwrap();
    assert_eq!(env.protocol_versions(), &[1, 2, 3]);
    assert!(env.multiplex_grpc());
    let vars = plugin_env(&env);
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get(ENV_PROTOCOL_VERSIONS), Some("1,2,3"));
    assert_eq!(get(ENV_MIN_PORT), Some("20000"));
    assert_eq!(get(ENV_MAX_PORT), Some("20010"));
    assert!(get(ENV_CLIENT_CERT)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(get(ENV_UNIX_SOCKET_DIR), Some("/run/plugboard"));
    assert_eq!(get(ENV_UNIX_SOCKET_GROUP), Some("plugins"));
    assert_eq!(get(ENV_MULTIPLEX_GRPC), Some("true"));
}

#[test]
fn invalid_environments_are_refused_at_build() {
    let build = |b: HandshakeEnvBuilder| b.build().unwrap_err();
    assert_eq!(
        build(HandshakeEnv::builder("", "v")),
        HandshakeEnvError::EmptyCookie
    );
    assert_eq!(
        build(HandshakeEnv::builder("K", "")),
        HandshakeEnvError::EmptyCookie
    );
    assert!(matches!(
        build(HandshakeEnv::builder("A=B", "v")),
        HandshakeEnvError::InvalidCookieKey { .. }
    ));
    assert!(matches!(
        build(HandshakeEnv::builder(ENV_MIN_PORT, "v")),
        HandshakeEnvError::ReservedCookieKey { .. }
    ));
    assert_eq!(
        build(HandshakeEnv::builder("K", "v").unix_socket_dir("/a\0b")),
        HandshakeEnvError::NulInValue
    );
    assert_eq!(
        build(HandshakeEnv::builder("K", "v").protocol_versions([])),
        HandshakeEnvError::NoVersions
    );
    let range = build(HandshakeEnv::builder("K", "v").port_range(9, 8));
    assert_eq!(range, HandshakeEnvError::EmptyPortRange { min: 9, max: 8 });
    assert!(range.to_string().contains("PLUGIN_MIN_PORT"));
}

fn handshakes() -> impl Strategy<Value = Handshake> {
    let network = prop_oneof![Just(Network::Unix), Just(Network::Tcp)];
    // Real certificates are hundreds of bytes; a DER SEQUENCE of 40 to 700 bytes of content.
    let cert = proptest::collection::vec(any::<u8>(), 40..700).prop_map(|body| {
        let len = body.len();
        let mut der = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
        der.extend(body);
        der
    });
    (
        any::<u32>(),
        network,
        "[^|\\p{Cc}]{1,60}",
        1u16..,
        proptest::option::of(cert),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(app_version, network, path, port, server_cert, multiplex)| {
                let address = match network {
                    Network::Unix => path,
                    Network::Tcp => format!("{path}:{port}"),
                };
                Handshake {
                    server_cert,
                    multiplex,
                    ..Handshake::grpc(app_version, network, address)
                }
            },
        )
}

proptest! {
    #[test]
    fn parse_inverts_format(h in handshakes()) {
        prop_assert_eq!(Handshake::parse(&h.format()), Ok(h.clone()));
        prop_assert_eq!(Handshake::parse(&h.to_string()), Ok(h));
    }

    #[test]
    fn parse_never_panics_and_what_it_accepts_round_trips(line in "\\PC{0,120}|[0-9|a-z/:.\n\r ]{0,40}") {
        if let Ok(h) = Handshake::parse(&line) {
            prop_assert_eq!(Handshake::parse(&h.format()), Ok(h));
        }
    }
}

#[test]
fn the_types_cross_threads() {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Handshake>();
    send_sync::<HandshakeError>();
    send_sync::<HandshakeEnv>();
    send_sync::<LogRecord>();
    send_sync::<ReattachConfig>();
    send_sync::<ReattachError>();
}

#[test]
fn error_messages_stay_short_whatever_the_line() {
    let huge = "9".repeat(100_000);
    for line in [
        format!("{huge}|1|unix|/p|grpc|"),
        format!("1|{huge}x|unix|/p|grpc|"),
        format!("1|1|{huge}|/p|grpc|"),
        format!("1|1|unix|/p\u{1}{huge}|grpc|"),
        format!("1|1|tcp|{huge}|grpc|"),
        format!("1|1|unix|/p|{huge}|"),
        format!("1|1|unix|/p|grpc|{huge}"),
        format!("1|1|unix|/p|grpc||{huge}"),
    ] {
        let message = err(&line).to_string();
        assert!(message.len() < 1500, "{} bytes: {message}", message.len());
    }
}

#[test]
fn a_certificate_too_small_to_be_one_is_refused() {
    // 37 bytes of DER: padded base64 is 52 characters, over the threshold, but printed
    // unpadded it would be 50 and vanish; no certificate is that small anyway.
    let mut der = vec![0x30, 35];
    der.extend([7u8; 35]);
    let field = crate::base64::encode(&der, crate::base64::Padding::Padded);
    assert_eq!(field.len(), 52);
    let error = err(&format!("1|1|unix|/p|grpc|{field}"));
    assert!(error.to_string().contains("37 bytes, too few"), "{error}");
}
