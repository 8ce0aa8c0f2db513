extension TaskRepository {
    /// `GET /api/tasks/{id}`.
    struct CardById: FrequentStatement {
        static let text = "SELECT \(columnList) FROM tasks WHERE id = $1"
        let id: String
        var values: [StatementValue] { [.text(id)] }
    }

    /// One column of a board, by position after a cursor: a range scan of `tasks_board_position_key`.
    struct ColumnPage: FrequentStatement {
        static let text = """
            SELECT \(columnList) FROM tasks
            WHERE project_id = $1 AND board_column = $2 AND position > $3
            ORDER BY position LIMIT $4
            """
        let projectId: String
        let column: BoardColumn
        let afterPosition: Int
        let limit: Int
        var values: [StatementValue] { [.text(projectId), .text(column.rawValue), .integer(afterPosition), .integer(limit)] }
    }
}
