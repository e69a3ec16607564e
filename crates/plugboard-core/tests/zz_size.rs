#[tokio::test]
async fn sizes() {
    let tmp = tempfile::tempdir().unwrap();
    struct E;
    impl plugboard_core::BuiltinPlugin for E { fn call(&self, _: &str, p: &[u8]) -> Result<Vec<u8>, plugboard_core::CallError> { Ok(p.to_vec()) } }
    let m = plugboard_core::manifest::Manifest::from_yaml_str("id: e\nversion: 1.0.0\nruntime: builtin\nentry: e\nprovides:\n  - point: p\n", "x").unwrap();
    let host = plugboard_core::Host::builder().state_dir(tmp.path()).extension_point(plugboard_core::ExtensionPoint::new("p")).plugin(m, || E).build().unwrap();
    let h = host.plugin("e").unwrap();
    let p = host.point("p").unwrap();
    let f1 = h.call("a", b"");
    let f2 = host.call("e", "a", b"");
    let f3 = p.call_one("a", b"");
    eprintln!("handle {} host {} point {} reply {} result {}", std::mem::size_of_val(&f1), std::mem::size_of_val(&f2), std::mem::size_of_val(&f3), std::mem::size_of::<plugboard_core::Reply<'static>>(), std::mem::size_of::<Result<Vec<u8>, plugboard_core::CallError>>());
}
