//! Misuse fails to compile with a message pointing at it: the generated commands, and
//! the derives.

#[test]
fn misuse_of_generated_commands() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/commands/*.rs");
}

#[test]
fn misuse_of_the_derives() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/derive/*.rs");
}
