//! The value stack, its marks, and the opcodes that fill containers.

use super::Machine;
use crate::pickle::opcodes::*;
use crate::pickle::{Id, Node, SeqKind};
use crate::DecodeError;

impl<'a> Machine<'a> {
    /// Moves the stack above `from` into the container at stack[`target`],
    /// which must be of the kind the opcode fills.
    pub(super) fn extend_from(&mut self, target: usize, from: usize) -> Result<(), DecodeError> {
        let id = self.stack[target] as usize;
        let items = match (&mut self.nodes[id], self.op) {
            (Node::Seq(SeqKind::List, items), APPEND | APPENDS)
            | (Node::Seq(SeqKind::Set, items), ADDITEMS)
            | (Node::Dict(items), SETITEM | SETITEMS) => items,
            (node, _) => {
                let found = node.type_name();
                return Err(self.fail(format_args!("cannot add items to {found}")));
            }
        };
        items.extend(self.stack.drain(from..));
        Ok(())
    }

    pub(super) fn push(&mut self, node: Node<'a>) -> Result<(), DecodeError> {
        if self.nodes.len() >= self.max_nodes {
            return Err(DecodeError::TooManyValues {
                limit: self.max_nodes,
            });
        }
        self.stack.push(self.nodes.len() as Id);
        self.nodes.push(node);
        Ok(())
    }

    pub(super) fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    pub(super) fn top(&self) -> Result<Id, DecodeError> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.fence() => Ok(id),
            _ => Err(self.fail("stack underflow")),
        }
    }

    pub(super) fn pop(&mut self) -> Result<Id, DecodeError> {
        let id = self.top()?;
        self.stack.pop();
        Ok(id)
    }

    /// POP discards a mark when one is on top, as CPython does.
    pub(super) fn pop_value_or_mark(&mut self) -> Result<(), DecodeError> {
        if self.marks.last() == Some(&self.stack.len()) {
            self.marks.pop();
            Ok(())
        } else {
            self.pop().map(drop)
        }
    }

    pub(super) fn pop_mark(&mut self) -> Result<usize, DecodeError> {
        self.marks
            .pop()
            .ok_or_else(|| self.fail("no MARK to pop to"))
    }
}
