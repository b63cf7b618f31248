//! Misuse of the generated commands fails to compile with a message pointing at it.

#[test]
fn misuse_of_generated_commands() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/commands/*.rs");
}
