//! A `Stream` from a state and an async step: what the scan, pub/sub and monitor
//! streams are made of.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// Calls `step` with the state for each item; the step gives the item and the next
/// state, or `None` at the end.
pub(crate) fn unfold<S, F, Fut, T>(state: S, step: F) -> Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    Unfold {
        state: Some(state),
        step,
        running: None,
    }
}

/// The stream [`unfold`] makes.
pub(crate) struct Unfold<S, F, Fut> {
    state: Option<S>,
    step: F,
    running: Option<Pin<Box<Fut>>>,
}

// The state and the step are only ever moved, never pinned, and the running future is
// boxed: nothing in `Unfold` relies on staying in place.
impl<S, F, Fut> Unpin for Unfold<S, F, Fut> {}

impl<S, F, Fut, T> Stream for Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.running.is_none() {
            let Some(state) = this.state.take() else {
                return Poll::Ready(None);
            };
            this.running = Some(Box::pin((this.step)(state)));
        }
        let Some(running) = this.running.as_mut() else {
            return Poll::Ready(None);
        };
        match running.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(next) => {
                this.running = None;
                Poll::Ready(next.map(|(item, state)| {
                    this.state = Some(state);
                    item
                }))
            }
        }
    }
}
