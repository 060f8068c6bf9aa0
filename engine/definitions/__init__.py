"""Workflow definitions: the YAML schema, loading with precise errors, static checks, diagrams."""
from engine.definitions.loader import load_path, load_text
from engine.definitions.workflow import StateDef, TransitionDef, WorkflowDef

__all__ = ["StateDef", "TransitionDef", "WorkflowDef", "load_path", "load_text"]
