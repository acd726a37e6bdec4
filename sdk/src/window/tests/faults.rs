//! Failures: a host that contradicts itself, a visitor that returns an error.

use super::hosts::AlwaysTruncated;
use super::*;

#[test]
fn a_host_that_contradicts_itself_is_an_error_not_a_loop() {
    let h = AlwaysTruncated(minutes());
    let w = Window::parse(Some("10m"), None).unwrap();
    assert!(matches!(w.fetch(&h), Err(Error::Failed(_))));
    assert!(matches!(
        w.for_each_chunk(&h, |_| Ok(())),
        Err(Error::Failed(_))
    ));
}

#[test]
fn errors_from_the_visitor_stop_the_walk() {
    let h = minutes().with_answer_cap(2);
    let w = Window::parse(Some("#10"), None).unwrap();
    let mut calls = 0;
    let r = w.for_each_chunk(&h, |_| {
        calls += 1;
        Err(Error::Failed("stop".into()))
    });
    assert!(matches!(r, Err(Error::Failed(m)) if m == "stop"));
    assert_eq!(calls, 1);
}
