"""Lifecycles (after Plone's DCWorkflow): the rules as data, the engine that executes them, numbering, its pages."""
