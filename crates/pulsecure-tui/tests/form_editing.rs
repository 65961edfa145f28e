//! Editing inside a field: the cursor moves, inserts and deletes where it is (also across
//! multi-byte characters), numeric fields refuse letters, yes/no fields toggle.

mod support;

use pulsecure_tui::form::EntryForm;
use support::model;

#[test]
fn the_cursor_inserts_and_deletes_where_it_is() {
    let model = model();
    let mut form = EntryForm::new(&model);
    for c in "P-007".chars() {
        form.type_char(c);
    }
    form.move_cursor(-3);
    form.type_char('0');
    assert_eq!(form.focused().text, "P-0007");
    assert_eq!(form.focused().display_with_cursor(), "P-0▏007");
    form.cursor_to(false);
    form.delete();
    assert_eq!(form.focused().text, "-0007");
    form.cursor_to(true);
    form.backspace();
    assert_eq!(form.focused().text, "-000");
    form.move_cursor(-10);
    form.backspace(); // nothing before the cursor
    assert_eq!(form.focused().text, "-000");
    // Multi-byte characters are one cursor step each.
    form.cursor_to(true);
    form.type_char('é');
    form.type_char('x');
    form.move_cursor(-1);
    form.backspace();
    assert_eq!(form.focused().text, "-000x");
}

#[test]
fn numeric_fields_take_numbers_and_yes_no_fields_toggle() {
    let model = model();
    let mut form = EntryForm::new(&model);
    form.next(); // known CVD (the embedded model's population excludes it)
    assert!(!form.focus_takes_text());
    form.next(); // age
    for c in "7a2".chars() {
        form.type_char(c);
    }
    assert_eq!(form.focused().text, "72");
    form.next(); // told_diabetes
    assert!(!form.focus_takes_text());
    form.type_char(' ');
    assert_eq!(form.focused().answer, Some(true));
    form.type_char(' ');
    assert_eq!(form.focused().answer, Some(false));
    form.backspace();
    assert_eq!(form.focused().answer, None);
}
