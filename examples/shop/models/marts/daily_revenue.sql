-- materialized: merge
-- unique_key: day
-- incremental_on: [analytics.order_facts, staging.stg_refunds]
-- tags: [finance, marts]
-- description: Orders, gross, refunds and net revenue per UTC day.

-- Refunds count on the day they were paid out (cash basis), not on the order's day, and only
-- for orders we know, as a refund of an unknown order has no revenue to net against. Money is
-- DECIMAL(18,2) so that net = gross - refunds holds exactly.
--
-- Incremental: analytics.order_facts and staging.stg_refunds are the new rows only, the
-- whole.* tables are everything. Only the days the new rows touch are computed again (from
-- the whole tables) and merged: the days of new orders, the payout days of new refunds, and
-- the payout days of older refunds whose order has only now arrived. On a full run the new
-- rows are all rows, so every day is touched.
WITH touched AS (
    SELECT order_date AS day FROM analytics.order_facts
    UNION
    SELECT CAST(timezone('UTC', refunded_at) AS DATE) FROM staging.stg_refunds
    UNION
    SELECT CAST(timezone('UTC', r.refunded_at) AS DATE)
    FROM whole.staging.stg_refunds AS r
    JOIN analytics.order_facts AS f ON f.order_id = r.order_id
),

sales AS (
    SELECT order_date AS day, count(*) AS orders, sum(amount) AS gross
    FROM whole.analytics.order_facts
    WHERE order_date IN (SELECT day FROM touched)
    GROUP BY order_date
),

paid_out AS (
    SELECT CAST(timezone('UTC', r.refunded_at) AS DATE) AS day, sum(r.amount) AS refunds
    FROM whole.staging.stg_refunds AS r
    WHERE CAST(timezone('UTC', r.refunded_at) AS DATE) IN (SELECT day FROM touched)
      AND r.order_id IN (SELECT order_id FROM whole.analytics.order_facts)
    GROUP BY 1
),

days AS (
    SELECT
        coalesce(s.day, p.day) AS day,
        coalesce(s.orders, 0) AS orders,
        CAST(coalesce(s.gross, 0) AS DECIMAL(18, 2)) AS gross,
        CAST(coalesce(p.refunds, 0) AS DECIMAL(18, 2)) AS refunds
    FROM sales AS s
    FULL OUTER JOIN paid_out AS p ON p.day = s.day
)

SELECT day, orders, gross, refunds, gross - refunds AS net
FROM days
ORDER BY day
