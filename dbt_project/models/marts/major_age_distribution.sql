-- Age histogram per major, as a table the report reads: one row per (major, age) with the
-- number of students of that age. The boxplot and any quantile come from here, so every figure
-- of the report comes from a mart (never from clean_students directly).
with age_counts as (

    select * from {{ ref('int_major_age_counts') }}

),

final as (

    select
        major,
        age,
        student_count
    from age_counts

)

select * from final
order by major, age
