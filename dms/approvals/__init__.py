"""Approval routes (согласование), deadlines, deputies, notifications and discussions (issue 19).

A capability package: `rules` (the data: default routes per document type, holidays, notification kinds),
`models` (its tables), `calendar` (working days), `service` (routes, stages, tasks, decisions, deputies),
`notify` (in-app notifications and e-mail after commit), `sheet` (the approval sheet PDF), `comments`
(discussions), and the adapters `web`, `api`, `cli`.
"""
