//! Carrying a scope across `.await`, onto whatever thread polls the future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::scope::{self, Scope};

/// A future that runs with `scope` as the current scope on every poll.
pub struct InScope<F> {
    scope: Option<Arc<Scope>>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for InScope<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(scope) = self.scope.clone() else {
            return self.inner.as_mut().poll(cx);
        };
        scope::push(scope.clone());
        let out = self.inner.as_mut().poll(cx);
        scope::pop(&scope);
        out
    }
}

/// `.in_scope(scope)` for any future.
pub trait FutureExt: Future + Sized {
    fn in_scope(self, scope: Arc<Scope>) -> InScope<Self> {
        InScope {
            scope: Some(scope),
            inner: Box::pin(self),
        }
    }

    /// Carries the scope current now (if any) into the future, e.g. into
    /// `tokio::spawn`.
    fn in_current_scope(self) -> InScope<Self> {
        InScope {
            scope: scope::current(),
            inner: Box::pin(self),
        }
    }
}

impl<F: Future> FutureExt for F {}
