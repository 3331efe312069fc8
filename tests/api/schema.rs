//! `schema.graphql` at the root is generated from the code; this fails when it is stale.

#[test]
fn committed_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = jobgraph::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn schema_has_the_contract_roots_and_scalars() {
    let sdl = jobgraph::graphql::sdl();
    for needle in [
        "type Query",
        "type Mutation",
        "scalar UUID",
        "scalar DateTime",
        "scalar JSON",
        "scalar Decimal",
    ] {
        assert!(sdl.contains(needle), "the SDL lacks `{needle}`");
    }
}
