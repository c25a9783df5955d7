-- One row per clean student event: the analysts' entry point to the clean data.
-- Deliberately a pass-through (no filtering, no casting): the tests in stg_students.yml must see
-- exactly the rows Spark wrote, so a bad row fails the build instead of vanishing here.
with source as (

    -- rowid: SQLite's row number, which only grows between full refreshes (see
    -- int_major_age_counts, which counts only the rows past the last one it counted)
    select rowid as warehouse_row, * from {{ source('warehouse', 'clean_students') }}

),

renamed as (

    select
        event_id,
        student_id,
        first_name,
        last_name,
        age,
        major,
        emitted_at,
        schema_version,
        rule as salvage_rule,
        run_id,
        warehouse_row
    from source

)

select * from renamed
