"""Layered incremental pipelines: project loading, DAG, planning, execution, tests, lineage."""

from headwater.pipeline.dag import Graph as Graph
from headwater.pipeline.dag import build_graph as build_graph
from headwater.pipeline.declarations import ProjectError as ProjectError
from headwater.pipeline.lock import RunInProgressError as RunInProgressError
from headwater.pipeline.project import Project as Project
from headwater.pipeline.project import load_project as load_project
from headwater.pipeline.runner import PipelineResult as PipelineResult
from headwater.pipeline.runner import ensure_sources as ensure_sources
from headwater.pipeline.runner import run_pipeline as run_pipeline

__all__ = [
    "Graph",
    "PipelineResult",
    "Project",
    "ProjectError",
    "RunInProgressError",
    "build_graph",
    "ensure_sources",
    "load_project",
    "run_pipeline",
]
